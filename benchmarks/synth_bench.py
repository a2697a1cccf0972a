"""Synthesis throughput: candidates/min (AST proposal alone), then valid tasks/min with
1 worker and with 2 (the Ray pool), and full-suite runs per valid task.

    .venv/bin/python benchmarks/synth_bench.py [--sample inikit] [--repo PATH]
        [--candidates 24] [--seed 0] [--runs 2] [--rounds 1]

Each configuration runs `run_synthesis` end to end (proposal, the clean-suite baseline,
validation, statements, files) on the same candidates (same seed and count) from scratch
(its own output directory) on one warm environment cache. A warm-up run with 2 workers
(not timed) builds the environment and brings both Ray workers up with the project
imported, so neither side pays for it. With `--rounds 2` the order alternates (1 then 2
workers, then 2 then 1) and each side's figure is its run with the median wall time (the
faster middle one of an even count). Baseline the issue names: one clean-suite run per
environment, not per bug (full-suite runs per valid task = (candidates + baselines) x runs
/ valid tasks, less the second run of a candidate whose first left no test that could be
FAIL_TO_PASS), and 2 workers >= 1.7x one.

Where it can (root, cgroup v1 cpuacct), the script joins its own cpuacct group and
reports the CPU seconds of its own processes per candidate: in the sandboxes (pytest, git,
bubblewrap), in the driver and in Ray's processes; the machine-wide busy cores also count
other jobs.
"""

from __future__ import annotations

import argparse
import json
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
from cpu_split import TreeCpu

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


def _synth(repo: Path, args, work: Path, workers: int, name: str, tree: TreeCpu | None) -> dict:
    cfg = _config(repo, work / name, work / "cache", args, workers)
    load = load_average()
    meter = CpuMeter().start()
    before = tree.snapshot() if tree else None
    report = run_synthesis(cfg)
    own = tree.split(before, tree.snapshot()) if tree and before else None
    used = meter.stop()
    valid = len(report.tasks)
    wall = used["wall_s"]
    result = {
        "workers": workers,
        "candidates": args.candidates,
        "valid": valid,
        "wall_s": round(wall, 1),
        "busy_cores": used["busy_cores"],
        "load_avg_before": load,
        "load_avg_after": load_average(),
        "candidates_per_min": round(args.candidates / wall * 60, 1),
        "valid_per_min": round(valid / wall * 60, 2),
        "suite_runs": report.full_suite_runs,
        "suite_runs_per_valid": round(report.full_suite_runs / valid, 2) if valid else None,
        "funnel": report.stages["total"],
    }
    result["phases_s"] = _phases(work / name)
    if own is not None:
        per = {k: round(v / args.candidates, 3) for k, v in own.items() if k != "wall_s"}
        result["own_cpu"] = {**own, "cores": round(own["total_s"] / wall, 2), "per_candidate": per}
    return result


def _phases(out: Path) -> dict[str, float]:
    """Wall seconds before validation (proposal, set-up), in it (baseline items until the
    last one ended, then candidates), and after it (statements, files), from the
    timestamps the run wrote."""
    synth = json.loads((out / "funnel.json").read_text())
    val = json.loads((out / "validate" / "validation.json").read_text())
    base = [p.stat().st_mtime for p in (out / "validate" / "validate-baseline").rglob("*.json")]
    return {
        "before_validation": round(val["started_at"] - synth["started_at"], 2),
        "baseline": round(max(base) - val["started_at"], 2) if base else 0.0,
        "candidates": round(val["finished_at"] - max(base or [val["started_at"]]), 2),
        "after_validation": round(synth["finished_at"] - val["finished_at"], 2),
    }


def _median(runs: list[dict]) -> dict:
    """The run with the median wall time (of an even count, the faster middle one)."""
    return sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="inikit", help="sample package (examples/)")
    parser.add_argument("--repo", type=Path, help="a git checkout instead of a sample")
    parser.add_argument("--candidates", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--test-timeout", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1, help="alternate 1-2, 2-1, ...")
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
        tree = TreeCpu.join()
        try:
            proposal = _proposal_rate(repo, args, work)
            warm = args.__class__(**{**vars(args), "candidates": 4, "in_process": False})
            _synth(repo, warm, work, 2, "warm", None)
            runs: dict[int, list[dict]] = {1: [], 2: []}
            for i in range(args.rounds):
                for workers in (1, 2) if i % 2 == 0 else (2, 1):
                    runs[workers].append(_synth(repo, args, work, workers, f"w{workers}-{i}", tree))
        finally:
            _end_ray()
            if tree:
                tree.leave()
    one, two = _median(runs[1]), _median(runs[2])
    speedup = round(one["wall_s"] / two["wall_s"], 2) if two["wall_s"] else None
    print(f"repository: {repo.name}; AST proposal alone: {proposal['candidates']} candidates "
          f"in {proposal['wall_s']} s = {proposal['per_min']}/min")  # fmt: skip
    header = ["workers", "candidates", "valid", "wall s", "cand/min", "valid/min", "suite runs",
              "runs/valid", "busy cores", "own cores", "load before-after"]  # fmt: skip
    rows = [
        [str(r["workers"]), str(r["candidates"]), str(r["valid"]), str(r["wall_s"]),
         str(r["candidates_per_min"]), str(r["valid_per_min"]), str(r["suite_runs"]),
         str(r["suite_runs_per_valid"]), str(r["busy_cores"]),
         str(r.get("own_cpu", {}).get("cores", "-")),
         f"{r['load_avg_before'][0]}-{r['load_avg_after'][0]}"]
        for r in (one, two)
    ]  # fmt: skip
    print_table(header, rows)
    for r in (one, two):
        print(f"{r['workers']} worker(s), wall s by phase: {r['phases_s']}")
        if per := r.get("own_cpu", {}).get("per_candidate"):
            print(f"{r['workers']} worker(s), CPU s per candidate: sandboxes "
                  f"{per['sandboxes_s']}, driver {per['driver_s']}, Ray processes "
                  f"{per['ray_s']} (total {per['total_s']})")  # fmt: skip
    if args.rounds > 1:
        walls = {w: [r["wall_s"] for r in runs[w]] for w in (1, 2)}
        print(f"wall s per round: 1 worker {walls[1]}, 2 workers {walls[2]} (medians used)")
    print(f"2 workers vs 1: {speedup}x (target >= 1.7x); one clean-suite baseline per "
          f"environment: suite runs = (candidates + 1) x {args.runs}, less one per candidate "
          "stopped after its first run")  # fmt: skip
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
            "rounds": {"one_worker": runs[1], "two_workers": runs[2]},
            "speedup": speedup,
        },
    )
    print(f"results: {path}")
    return 0


def _end_ray() -> None:
    """Ray ends before the CPU group is left (its processes are in it)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
