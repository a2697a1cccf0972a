"""Sandbox start latency: local (OverlayFS workspace) against named baselines.

    .venv/bin/python benchmarks/sandbox_bench.py [--n 30] [--files 50 --files 6000]
        [--docker-url unix:///run/podman.sock]

For each backend it reports p50/p95 of `start` alone, of `start` + the first `exec("true")`
(when the sandbox is really usable) and of `close`. Baselines: the local backend with a
plain `cp -a` workspace copy ("copy"), and the docker backend when a Docker-API socket is
given. The repositories are synthetic (generated files), built in a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from swelego_ray.envs import Environment, EnvSpec, get_backend
from swelego_ray.sandbox import SandboxBackend


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_start_latency(backend: SandboxBackend, env: Environment, n: int) -> dict[str, Any]:
    """Start, first exec and close `n` sandboxes of a prepared `env`; latencies in ms."""
    backend.prepare(env)
    with backend.start(env) as warmup:
        warmup.exec("true")
    start_ms, ready_ms, close_ms = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        sandbox = backend.start(env)
        t1 = time.perf_counter()
        result = sandbox.exec("true")
        t2 = time.perf_counter()
        sandbox.close()
        t3 = time.perf_counter()
        if result.exit_code != 0:
            raise RuntimeError(f"`true` failed in the sandbox: {result.output}")
        start_ms.append((t1 - t0) * 1000)
        ready_ms.append((t2 - t0) * 1000)
        close_ms.append((t3 - t2) * 1000)
    return {
        "backend": getattr(backend, "name", type(backend).__name__),
        "n": n,
        "start_p50_ms": round(statistics.median(start_ms), 1),
        "start_p95_ms": round(_percentile(start_ms, 0.95), 1),
        "start_plus_first_exec_p50_ms": round(statistics.median(ready_ms), 1),
        "start_plus_first_exec_p95_ms": round(_percentile(ready_ms, 0.95), 1),
        "close_p50_ms": round(statistics.median(close_ms), 1),
    }


def synthetic_repo(root: Path, files: int) -> Environment:
    """A git repository with `files` small Python files and an environment without packages."""
    repo = root / f"synthetic-{files}"
    for i in range(files):
        path = repo / f"pkg{i // 100}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE_{i} = {i}\n" * 20)
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@localhost"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@localhost", "PATH": "/usr/bin"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "synthetic"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    spec = EnvSpec(python="3.11", install=[])
    return Environment(repo=f"bench/synthetic-{files}", commit=sha, source=str(repo), spec=spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--files", type=int, action="append", help="repo sizes (default 50, 6000)")
    parser.add_argument("--docker-url", help="Docker-API socket, e.g. unix:///run/podman.sock")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="swelego-bench-") as tmp:
        cache = Path(tmp) / "cache"
        backends = {
            "local (overlay)": get_backend("local", cache_root=cache, workspace="overlay"),
            "local (copy, baseline)": get_backend("local", cache_root=cache, workspace="copy"),
        }
        if args.docker_url:
            backends["docker"] = get_backend("docker", base_url=args.docker_url, cache_root=cache)
        for files in args.files or [50, 6000]:
            env = synthetic_repo(Path(tmp), files)
            for label, backend in backends.items():
                row = measure_start_latency(backend, env, args.n)
                rows.append({"config": label, "files": files, **row})
    header = ["config", "files", "start_p50_ms", "start_p95_ms"]
    header += ["start_plus_first_exec_p50_ms", "start_plus_first_exec_p95_ms", "close_p50_ms"]
    print("  ".join(f"{h:>28}" if i else f"{h:<24}" for i, h in enumerate(header)))
    for row in rows:
        cells = [str(row[h]) for h in header]
        print("  ".join(f"{c:>28}" if i else f"{c:<24}" for i, c in enumerate(cells)))


if __name__ == "__main__":
    main()
