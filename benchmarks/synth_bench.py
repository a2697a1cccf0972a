"""Synthesis throughput: candidates/min (AST proposal alone), then valid tasks/min with
1 worker and with 2 (the Ray actor pool), and full-suite runs per valid task.

    .venv/bin/python benchmarks/synth_bench.py [--sample inikit] [--repo PATH]
        [--candidates 24] [--seed 0] [--runs 2]

Each configuration validates the same candidates from scratch (its own output directory)
on one warm environment cache; the first, warming run is not timed. Baseline the issue
names: one clean-suite run per environment, not per bug (full-suite runs per valid task
= (candidates + baselines) x runs / valid tasks), and 2 workers >= 1.7x one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench_common import (
    CpuMeter,
    load_average,
    machine_description,
    now_utc,
    print_table,
    wait_for_quiet,
    write_results,
)

from swelego_ray.samples import materialize_sample_repos, sample_repo_dir
from swelego_ray.sandbox import Limits
from swelego_ray.synth import RepoInput, SynthConfig, SynthFunnel, propose, run_synthesis


def _config(repo: Path, out: Path, cache: Path, args, workers: int) -> SynthConfig:
    return SynthConfig(
        repos=[RepoInput(path=str(repo))],
        out=str(out),
        strategies=["ast"],
        seed=args.seed,
        candidates_per_repo=args.candidates,
        max_per_repo=args.candidates,
        runs=args.runs,
        workers=workers,
        in_process=workers == 1 and args.in_process,
        progress=False,
        cache_root=str(cache),
        backend={"kind": "local", "cache_root": str(cache)},
        limits=Limits(timeout_s=args.test_timeout, memory_mb=2048),
        timeout_s=max(600.0, args.test_timeout * args.runs * 2),
    )


def _proposal_rate(repo: Path, args, work: Path) -> dict:
    """Candidates per minute of the AST strategy alone (parse, transform, compile, diff)."""
    cfg = _config(repo, work / "propose", work / "cache", args, 1)
    cfg = cfg.model_copy(update={"candidates_per_repo": 10_000})
    start = time.monotonic()
    found = propose(cfg, SynthFunnel())
    wall = time.monotonic() - start
    return {"candidates": len(found), "wall_s": round(wall, 2),
            "per_min": round(len(found) / wall * 60, 1)}  # fmt: skip


def _synth(repo: Path, args, work: Path, workers: int, name: str) -> dict:
    cfg = _config(repo, work / name, work / "cache", args, workers)
    meter = CpuMeter().start()
    report = run_synthesis(cfg)
    used = meter.stop()
    valid = len(report.tasks)
    wall = used["wall_s"]
    return {
        "workers": workers,
        "candidates": args.candidates,
        "valid": valid,
        "wall_s": round(wall, 1),
        "busy_cores": used["busy_cores"],
        "candidates_per_min": round(args.candidates / wall * 60, 1),
        "valid_per_min": round(valid / wall * 60, 2),
        "suite_runs": report.full_suite_runs,
        "suite_runs_per_valid": round(report.full_suite_runs / valid, 2) if valid else None,
        "funnel": report.stages["total"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="inikit", help="sample package (examples/)")
    parser.add_argument("--repo", type=Path, help="a git checkout instead of a sample")
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--test-timeout", type=float, default=30.0)
    parser.add_argument("--in-process", action="store_true", help="1 worker without Ray")
    parser.add_argument("--max-load", type=float, default=1.5, help="wait below this load")
    parser.add_argument("--max-wait", type=float, default=0.0, help="...for at most (s)")
    args = parser.parse_args(argv)
    quiet = wait_for_quiet(args.max_load, args.max_wait)
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        work = Path(tmp)
        if args.repo is None:
            repo = sample_repo_dir(materialize_sample_repos(work / "repos"), args.sample)
        else:
            repo = args.repo.resolve()
        load = load_average()
        proposal = _proposal_rate(repo, args, work)
        _synth(repo, args.__class__(**{**vars(args), "candidates": 2}), work, 1, "warm")
        one = _synth(repo, args, work, 1, "w1")
        two = _synth(repo, args, work, 2, "w2")
    speedup = round(one["wall_s"] / two["wall_s"], 2) if two["wall_s"] else None
    print(f"repository: {repo.name}; AST proposal alone: {proposal['candidates']} candidates "
          f"in {proposal['wall_s']} s = {proposal['per_min']}/min")  # fmt: skip
    header = ["workers", "candidates", "valid", "wall s", "cand/min", "valid/min",
              "suite runs", "runs/valid", "busy cores"]  # fmt: skip
    rows = [
        [str(r["workers"]), str(r["candidates"]), str(r["valid"]), str(r["wall_s"]),
         str(r["candidates_per_min"]), str(r["valid_per_min"]), str(r["suite_runs"]),
         str(r["suite_runs_per_valid"]), str(r["busy_cores"])]
        for r in (one, two)
    ]  # fmt: skip
    print_table(header, rows)
    print(f"2 workers vs 1: {speedup}x (target >= 1.7x); one clean-suite baseline per "
          f"environment: runs/valid = (candidates + 1) x {args.runs} / valid")  # fmt: skip
    if not quiet["quiet"]:
        print(f"NOTE: load average {load} at the start (machine not quiet): the 1 vs 2 "
              "workers comparison measures contention, not the pool")  # fmt: skip
    path = write_results(
        "synth",
        {
            "when": now_utc(),
            "machine": machine_description(),
            "load_avg_before": load,
            "quiet": quiet,
            "load_avg_after": load_average(),
            "repo": repo.name,
            "args": {k: str(v) for k, v in vars(args).items()},
            "proposal": proposal,
            "one_worker": one,
            "two_workers": two,
            "speedup": speedup,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
