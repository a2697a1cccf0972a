"""Docker backend costs on a real Docker-API engine: base image, env image builds, start
and exec latency, beside the named baselines (read-only root vs writable root; the local
backend's numbers come from sandbox_bench.py, whose measure_start_latency this reuses).

    .venv/bin/python benchmarks/docker_bench.py [--n 20] [--files 50 --files 6000]
        [--docker-url unix:///run/podman/podman.sock] [--reload-base] [--states-only]

Start states (`start_prepared`): a miss (start, prepare, commit) against a hit (a
container of the kept image), for a prepare that edits one file and for one that edits
every file (like a task whose base commit differs from the environment's).

Without --docker-url it starts podman's service on a private socket (as the tests do).
The base image is the offline debootstrap one (present, loaded from the cache tarball, or
built); --reload-base removes it from the engine first to time the tarball load.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from sandbox_bench import _percentile, measure_start_latency, synthetic_repo

from swelego_ray.envs import EnvBackend, Environment, backends
from swelego_ray.envs.backends import offline_config
from swelego_ray.envs.base_image import base_image_name, host_codename
from swelego_ray.envs.repos import default_cache_root
from swelego_ray.sandbox import Sandbox, StartState
from swelego_ray.sandbox.engine import remove_states
from swelego_ray.sandbox.podman_service import PodmanService


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


_GIT = "git -c user.name=b -c user.email=b@localhost -c commit.gpgsign=false"
PREPARES = {
    "one file": f"echo prepared >> pkg0/mod0.py && {_GIT} commit -qam prepared",
    "every file": f"find pkg* -name '*.py' | xargs sed -i '1s/^/# prepared\\n/' && "
    f"{_GIT} commit -qam prepared",
}


def measure_start_states(backend: EnvBackend, env: Environment, n: int) -> list[dict]:
    """start_prepared latencies in ms: misses (each a new key) and hits (one kept key)."""
    rows = []
    for what, command in PREPARES.items():
        misses, hits, ready, prepares = [], [], [], []

        def prepare(sandbox: Sandbox, command: str = command, prepares: list = prepares) -> str:
            result = sandbox.exec(command)
            if result.exit_code != 0:
                raise RuntimeError(f"prepare failed: {result.output[-2000:]}")
            prepares.append(result.duration_s * 1000)
            return result.output

        keys = [f"bench-{uuid.uuid4().hex}" for _ in range(max(3, n // 4))]
        for key in keys:
            started = time.perf_counter()
            sandbox, _ = backend.start_prepared(env, StartState(key, prepare))
            misses.append((time.perf_counter() - started) * 1000)
            sandbox.close()
        for _ in range(n):
            started = time.perf_counter()
            sandbox, _ = backend.start_prepared(env, StartState(keys[0], prepare))
            hits.append((time.perf_counter() - started) * 1000)
            sandbox.exec("true")
            ready.append((time.perf_counter() - started) * 1000)
            sandbox.close()
        rows.append(
            {
                "prepare edits": what,
                "miss_p50_ms": round(statistics.median(misses), 1),
                "prepare_exec_p50_ms": round(statistics.median(prepares), 1),
                "hit_p50_ms": round(statistics.median(hits), 1),
                "hit_p95_ms": round(_percentile(hits, 0.95), 1),
                "hit_plus_first_exec_p50_ms": round(statistics.median(ready), 1),
            }
        )
    remove_states(backend.client, env.key)
    return rows


def _table(rows: list[dict]) -> None:
    header = list(rows[0])
    print("  ".join(f"{h:>28}" if i else f"{h:<32}" for i, h in enumerate(header)))
    for row in rows:
        cells = [str(row[h]) for h in header]
        print("  ".join(f"{c:>28}" if i else f"{c:<32}" for i, c in enumerate(cells)))


def run(url: str, args: argparse.Namespace, tmp: Path) -> None:
    import docker

    cache = default_cache_root()
    client = docker.DockerClient(base_url=url, timeout=900)
    name = base_image_name(host_codename())
    if args.reload_base:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(name, force=True)
    config, seconds = _timed(offline_config, url, cache)
    print(f"base image {config.images.base_image}: ready in {seconds:.1f} s")
    rows, state_rows = [], []
    for files in args.files or [50, 6000]:
        env = synthetic_repo(tmp, files)
        cold_backend = backends.docker_backend(config)
        _, cold = _timed(cold_backend.prepare, env)
        warm_backend = backends.docker_backend(config)
        _, warm = _timed(warm_backend.prepare, env)
        print(f"env image, {files} files: cold build {cold:.1f} s, warm prepare {warm:.3f} s")
        plain = measure_start_latency(warm_backend, env, args.n)
        for row in measure_start_states(warm_backend, env, args.n):
            state_rows.append({"files": files, **row, "plain_start_p50_ms": plain["start_p50_ms"]})
        if args.states_only:
            continue
        for read_only in (True, False):
            backend = backends.docker_backend(config, read_only=read_only)
            n = max(3, args.n // 4) if read_only else args.n  # seconds per start at 6k files
            row = measure_start_latency(backend, env, n)
            with backend.start(env) as sandbox:
                execs = [sandbox.exec("true").duration_s * 1000 for _ in range(args.n)]
            label = "docker read-only root (option)" if read_only else "docker (default)"
            rows.append({"config": label, "files": files, **row})
            rows[-1]["exec_p50_ms"] = round(statistics.median(execs), 1)
    header = ["config", "files", "start_p50_ms", "start_p95_ms"]
    header += ["start_plus_first_exec_p50_ms", "close_p50_ms", "exec_p50_ms"]
    if rows:
        _table([{h: row[h] for h in header} for row in rows])
    print("start states (start_prepared):")
    _table(state_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--files", type=int, action="append", help="repo sizes (default 50, 6000)")
    parser.add_argument("--docker-url", help="a running Docker-API engine (else podman is started)")
    parser.add_argument("--reload-base", action="store_true", help="time loading the base image")
    parser.add_argument("--states-only", action="store_true", help="only the start-state rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swelego-docker-bench-") as tmp:
        if args.docker_url:
            run(args.docker_url, args, Path(tmp))
            return
        with PodmanService(Path(tmp) / "podman") as service:
            run(service.url, args, Path(tmp))


if __name__ == "__main__":
    main()
