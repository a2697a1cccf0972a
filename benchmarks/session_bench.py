"""Per-command overhead of a persistent shell session against one sandbox exec per command.

    .venv/bin/python benchmarks/session_bench.py [--n 200] [--baseline-n 50]

On the local backend (a synthetic one-file repository, built in a temporary cache), for
`true` (a shell builtin: the session's whole overhead) and `/bin/true` (one process): the
wall time of `ShellSession.run` and of `Sandbox.exec` (a new bubblewrap sandbox per
command, the baseline), and the overhead of each over the bare command, whose own time is
measured inside the sandbox (a loop of 200 runs). Target: session overhead p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from swelego_ray.envs import Environment, EnvSpec, get_backend
from swelego_ray.sandbox import Sandbox, ShellSession

COMMANDS = ("true", "/bin/true")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _repo(path: Path) -> str:
    path.mkdir(parents=True)
    (path / "README.md").write_text("bench\n")
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@localhost", "PATH": "/usr/bin:/bin"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@localhost"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True)
    return out.stdout.strip()


def bare_ms(session: ShellSession, command: str, loops: int = 200) -> float:
    """The command's own time inside the sandbox (a shell loop), ms per run."""
    script = (
        f"s=$(date +%s%N); for ((i=0; i<{loops}; i++)); do {command}; done; "
        "e=$(date +%s%N); echo $(( (e - s) / 1000 ))"
    )
    return int(session.run(script).output.split()[-1]) / loops / 1000


def timed(run, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def measure(sandbox: Sandbox, n: int, baseline_n: int) -> list[list[str]]:
    rows = []
    for command in COMMANDS:
        base = [timed(lambda c=command: sandbox.exec(c), 1)[0] for _ in range(baseline_n)]
        with sandbox.session() as session:
            session.run(command)  # warm up
            bare = min(bare_ms(session, command) for _ in range(5))  # least disturbed
            ses = timed(lambda c=command, s=session: s.run(c), n)
        for name, values in (("session", ses), ("exec per command", base)):
            p50, p95 = _percentile(values, 0.5), _percentile(values, 0.95)
            rows.append(
                [command, name, f"{bare:.3f}", f"{p50:.3f}", f"{p95:.3f}", f"{p50 - bare:.3f}"]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="session commands per row")
    parser.add_argument("--baseline-n", type=int, default=50, help="execs per baseline row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="session-bench-") as tmp:
        root = Path(tmp)
        repo = root / "repo"
        env = Environment(
            repo="bench/session", commit=_repo(repo), source=str(repo), spec=EnvSpec(install=[])
        )
        backend = get_backend("local", cache_root=root / "cache")
        backend.prepare(env)
        with backend.start(env) as sandbox:
            rows = measure(sandbox, args.n, args.baseline_n)
    header = ["command", "how", "bare ms", "p50 ms", "p95 ms", "overhead p50 ms"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    session_overhead = max(float(r[5]) for r in rows if r[1] == "session")
    verdict = "meets" if session_overhead <= 5.0 else "MISSES"
    print(f"session overhead p50 (worst command): {session_overhead:.3f} ms: {verdict} <= 5 ms")


if __name__ == "__main__":
    main()
