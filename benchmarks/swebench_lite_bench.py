"""SWE-bench Lite as a benchmark: `swelego evaluate`, gold and empty, repository by repository.

Not a test (run_all.py does not run it: hours on 2 cores). For each repository of the split
whose mirror is in --repos (smallest first), it runs the CLI as a user would,

    swelego evaluate --tasks WORK/tasks/<repo>.jsonl --predictions gold|empty
        --repos MIRRORS --out WORK/runs/<repo>/<gold|empty> --cache-root WORK/cache --no-clone

and writes the per-repository summary (not the data) to
benchmarks/results/swebench-lite-<time>.json (and WORK/summary.json): instances,
environments built / failed, build time, gold and empty resolved, errors and unresolved by
reason, wall time, network-only instances.

Reproduce (nothing fetched is committed):
  1. The rows: SWE-bench Lite's test split (300 rows) as published, e.g.
     `python -c "import datasets; datasets.load_dataset('princeton-nlp/SWE-bench_Lite',
     split='test').to_json('lite.jsonl')"` (JSONL, a JSON list or Parquet all read).
  2. The repositories as full mirrors (history and tags; shallow clones are refused):
     `git clone --mirror https://github.com/<owner>/<name>.git MIRRORS/<owner>__<name>.git`
     for each of the split's 12 repositories (or let `swelego evaluate` clone them online:
     drop --no-clone by passing --clone here).
  3. `nice -n 19 .venv/bin/python benchmarks/swebench_lite_bench.py --tasks lite.jsonl
     --repos MIRRORS --work /tmp/lite-bench` (uv must be on PATH: the venv's bin is
     prepended). Rerun the same command to resume: finished instances are reused by the
     evaluate stage; wall times of every invocation add up in WORK/state.json.

Network-only rule (docs/evaluation.md): an instance whose gold run lists it in
`network_ids` (a graded test failed on a network error; sandboxes have none) is
network-only: listed in the summary and in WORK/network-only.txt, and left out of both
resolve rates (never run with the network on).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import REPO_ROOT, RESULTS_DIR, machine_description

MODES = ("gold", "empty")


class ModeSummary(BaseModel):
    """One repository's run with one prediction set (gold or empty)."""

    exit_code: int | None = None
    wall_s: float = 0.0  # every invocation's wall time, summed (a resumed run adds up)
    instances: int = 0
    resolved: int = 0
    unresolved: int = 0
    errors: int = 0
    errors_by_reason: dict[str, int] = Field(default_factory=dict)
    unresolved_by_reason: dict[str, int] = Field(default_factory=dict)
    resolved_ids: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    """Every instance that did not resolve (gold) / that resolved (empty): reason."""
    network_ids: list[str] = Field(default_factory=list)
    test_s_median: float = 0.0  # median instance time (the first on an environment builds it)


class RepoSummary(BaseModel):
    """Everything the benchmark reports about one repository."""

    repo: str
    instances: int  # in the split
    instances_run: int = 0  # in this benchmark's runs (--per-repo picks fewer)
    mirror: bool
    environments: int = 0
    envs_built: int = 0
    envs_failed: int = 0
    env_build_s: dict[str, float | None] = Field(default_factory=dict)
    env_failures: dict[str, str] = Field(default_factory=dict)
    modes: dict[str, ModeSummary] = Field(default_factory=dict)
    network_only: list[str] = Field(default_factory=list)
    gold_rate: float | None = None  # resolved / (instances - network-only)
    empty_rate: float | None = None


def write_repo_tasks(lines: list[str], work: Path) -> dict[str, Path]:
    """One JSONL per repository, the rows as published (the CLI reads and checks them)."""
    by_repo: dict[str, list[str]] = collections.defaultdict(list)
    for line in lines:
        by_repo[json.loads(line)["repo"]].append(line)
    out = work / "tasks"
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for repo, repo_lines in by_repo.items():
        path = out / f"{repo.replace('/', '__')}.jsonl"
        text = "\n".join(repo_lines) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths[repo] = path
    return paths


def raw_lines(raw: Path) -> list[str]:
    """The split's rows, one JSON text each, from JSONL, a JSON list or Parquet."""
    if raw.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [json.dumps(r) for r in pq.read_table(raw).to_pylist()]
    text = raw.read_text()
    if text.lstrip().startswith("["):
        return [json.dumps(r) for r in json.loads(text)]
    return [line for line in text.splitlines() if line.strip()]


def has_mirror(repo: str, repos: Path) -> bool:
    stem = repo.replace("/", "__")
    return (repos / stem).is_dir() or (repos / f"{stem}.git").is_dir()


def pick_ids(repo: str, tasks: Path, args: argparse.Namespace) -> list[str]:
    """--per-repo N: N instances of `repo`, those gold resolved in --prefer-resolved's run
    first (a docker run of one instance per repository), else the first N of the split."""
    if not args.per_repo:
        return []
    ids = [json.loads(line)["instance_id"] for line in tasks.read_text().splitlines()]
    if args.prefer_resolved:
        report = args.prefer_resolved / "runs" / repo.replace("/", "__") / "gold" / "report.json"
        if report.is_file():
            good = set(json.loads(report.read_text())["resolved_ids"])
            ids = [i for i in ids if i in good] + [i for i in ids if i not in good]
    return ids[: args.per_repo]


def run_mode(
    repo: str, mode: str, tasks: Path, args: argparse.Namespace, ids: list[str]
) -> tuple[int, float]:
    """One `swelego evaluate` invocation; its log goes to WORK/runs/<repo>/<mode>.log."""
    out = args.work / "runs" / repo.replace("/", "__") / mode
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(REPO_ROOT / ".venv" / "bin" / "swelego"),
        "evaluate",
        "--tasks", str(tasks),
        "--predictions", mode,
        "--repos", str(args.repos),
        "--out", str(out),
        "--run-id", f"lite-{mode}",
        "--cache-root", str(args.work / "cache"),
        "--workers", str(1 if args.in_process else args.workers),
        "--backend", args.backend,
        "--no-progress",
        "--clone" if args.clone else "--no-clone",
    ]  # fmt: skip
    if args.backend == "docker":
        cmd.append("--offline-base")
    for opt in args.backend_option:
        cmd += ["--backend-option", opt]
    if args.rebuild_failed:
        cmd.append("--rebuild-failed")
    if args.rerun_errors:
        cmd.append("--rerun-errors")
    if args.in_process:  # no Ray: on a loaded machine its start can time out
        cmd.append("--in-process")
    if ids:
        cmd += ["--instance-ids", ",".join(ids)]
    env = dict(os.environ)
    env["PATH"] = f"{REPO_ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    # this checkout's code, also when the venv's editable install points elsewhere (a
    # snapshot of the project, e.g. `git archive HEAD`, with .venv linked to the venv)
    env["PYTHONPATH"] = str(REPO_ROOT)
    print(f"[{time.strftime('%H:%M:%S')}] {repo} {mode}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    with open(out.parent / f"{mode}.log", "a") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.monotonic() - started
    print(f"[{time.strftime('%H:%M:%S')}] {repo} {mode}: exit {code}, {wall:.0f} s", flush=True)
    return code, wall


def read_mode(out: Path, summary: ModeSummary) -> list[dict]:
    """Fill `summary` from OUT/report.json and the run's result records; returns them."""
    report = json.loads((out / "report.json").read_text())
    keys = json.loads((out / "run.json").read_text()).get("result_keys", {})
    results = [json.loads((out / key).read_text()) for key in keys.values()]
    summary.instances = report["total_instances"]
    summary.network_ids = report.get("network_ids", [])
    errors: collections.Counter[str] = collections.Counter()
    unresolved: collections.Counter[str] = collections.Counter()
    summary.resolved = summary.unresolved = summary.errors = 0
    summary.resolved_ids, summary.failed = [], {}
    for r in results:
        grade = r["report"]
        outcome, reason = grade["outcome"], grade.get("reason") or ""
        if outcome == "resolved":
            summary.resolved += 1
            summary.resolved_ids.append(r["instance_id"])
        elif outcome == "error":
            summary.errors += 1
            errors[reason] += 1
        else:
            summary.unresolved += 1
            unresolved[reason] += 1
        if outcome != "resolved":
            summary.failed[r["instance_id"]] = f"{outcome}:{reason}: {_clip(grade['detail'])}"
    summary.errors_by_reason = dict(errors)
    summary.unresolved_by_reason = dict(unresolved)
    summary.resolved_ids.sort()
    return results


def _clip(text: str, keep: int = 200) -> str:
    """Head and tail of a long detail (a failed step's command, then its error)."""
    return text if len(text) <= 2 * keep else f"{text[:keep]} [...] {text[-keep:]}"


def env_records(cache: Path, results: list[dict]) -> tuple[dict[str, float | None], dict[str, str]]:
    """Each environment the results used: built (with its build seconds: the local
    backend's READY record; None on docker, whose images hold no such record) or failed
    (the recorded error: CACHE/envs/<key>.failed.json, CACHE/docker/failed/ on docker)."""
    built: dict[str, float | None] = {}
    failed: dict[str, str] = {}
    for r in results:
        key = r.get("env_key")
        if not key or key in built or key in failed:
            continue
        ready = cache / "envs" / key / "READY"
        records = [
            cache / "envs" / f"{key}.failed.json",
            cache / "docker" / "failed" / f"{key}.failed.json",
        ]
        failure = next((f for f in records if f.is_file()), None)
        if ready.is_file():
            built[key] = float(json.loads(ready.read_text()).get("build_s", 0.0))
        elif r["report"].get("reason") == "env_build_failed":
            error = json.loads(failure.read_text()).get("error", "") if failure else ""
            failed[key] = _clip(error or r["report"]["detail"])
        else:
            built[key] = None
    return built, failed


def summarise(repo: str, n: int, args: argparse.Namespace, state: dict) -> RepoSummary:
    stem = repo.replace("/", "__")
    summary = RepoSummary(repo=repo, instances=n, mirror=has_mirror(repo, args.repos))
    all_results: list[dict] = []
    for mode in MODES:
        out = args.work / "runs" / stem / mode
        record = state.get(repo, {}).get(mode)
        if record is None or not (out / "report.json").is_file():
            continue
        ms = ModeSummary(exit_code=record["exit_code"], wall_s=round(record["wall_s"], 1))
        results = read_mode(out, ms)
        durations = sorted(r["duration_s"] for r in results)
        all_results += results
        summary.modes[mode] = ms
        if durations:
            ms.test_s_median = round(durations[len(durations) // 2], 1)
    built, failed = env_records(args.work / "cache", all_results)
    summary.environments, summary.envs_built, summary.envs_failed = (
        len(built) + len(failed),
        len(built),
        len(failed),
    )
    summary.env_build_s, summary.env_failures = built, failed
    gold, empty = summary.modes.get("gold"), summary.modes.get("empty")
    summary.network_only = sorted(gold.network_ids) if gold else []
    summary.instances_run = gold.instances if gold else 0
    scored = summary.instances_run - len(summary.network_only)
    if gold and scored:
        kept = [i for i in gold.resolved_ids if i not in summary.network_only]
        summary.gold_rate = round(len(kept) / scored, 4)
    if empty and scored:
        kept = [i for i in empty.resolved_ids if i not in summary.network_only]
        summary.empty_rate = round(len(kept) / scored, 4)
        empty.failed = {i: "resolved with an empty patch" for i in empty.resolved_ids}
    return summary


def totals(repos: list[RepoSummary]) -> dict:
    done = [r for r in repos if "gold" in r.modes]
    t: dict = {
        "repositories_run": len(done),
        "instances_run": sum(r.instances_run for r in done),
        "network_only": sum(len(r.network_only) for r in done),
        "environments": sum(r.environments for r in done),
        "envs_built": sum(r.envs_built for r in done),
        "envs_failed": sum(r.envs_failed for r in done),
        "env_build_s": round(sum(v or 0.0 for r in done for v in r.env_build_s.values()), 1),
        "wall_s": round(sum(m.wall_s for r in done for m in r.modes.values()), 1),
    }
    for mode in MODES:
        runs = [r.modes[mode] for r in done if mode in r.modes]
        t[f"{mode}_resolved"] = sum(m.resolved for m in runs)
        t[f"{mode}_errors"] = sum(m.errors for m in runs)
    scored = t["instances_run"] - t["network_only"]
    nets = {i for r in done for i in r.network_only}
    for mode in MODES:
        got = sum(1 for r in done if mode in r.modes for i in r.modes[mode].resolved_ids)
        got -= sum(
            1 for r in done if mode in r.modes for i in r.modes[mode].resolved_ids if i in nets
        )
        t[f"{mode}_rate"] = round(got / scored, 4) if scored else None
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=Path, required=True, help="the split's rows")
    p.add_argument("--repos", type=Path, required=True, help="mirrors: owner__name[.git]")
    p.add_argument("--work", type=Path, default=Path("/tmp/swebench-lite-bench"))
    p.add_argument("--only", default="", help="comma-separated repositories (owner/name)")
    p.add_argument(
        "--order", default="", help="these repositories first (default: fewest instances first)"
    )
    p.add_argument("--modes", default="gold,empty")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--backend", choices=["local", "docker"], default="local")
    p.add_argument("--backend-option", action="append", default=[])
    p.add_argument("--clone", action="store_true", help="clone missing mirrors (online)")
    p.add_argument("--rebuild-failed", action="store_true")
    p.add_argument("--rerun-errors", action="store_true", help="rerun stored errors")
    p.add_argument("--in-process", action="store_true", help="swelego evaluate --in-process")
    p.add_argument("--per-repo", type=int, default=0, help="only N instances per repository")
    p.add_argument(
        "--prefer-resolved",
        type=Path,
        default=None,
        help="with --per-repo: a --work dir whose gold run's resolved instances go first",
    )
    p.add_argument("--summary-only", action="store_true", help="summarise, run nothing")
    p.add_argument("--name", default="swebench-lite", help="results file prefix")
    args = p.parse_args(argv)
    args.work = args.work.resolve()
    args.repos = args.repos.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    lines = raw_lines(args.tasks)
    counts = collections.Counter(json.loads(line)["repo"] for line in lines)
    task_files = write_repo_tasks(lines, args.work)
    first = [r for r in args.order.split(",") if r]
    order = first + sorted(set(counts) - set(first), key=lambda r: (counts[r], r))
    only = [r for r in args.only.split(",") if r]
    unknown = sorted(set(only + first) - set(counts))
    if unknown:
        p.error(f"--only/--order name repositories not in {args.tasks}: {', '.join(unknown)}")
    state_path = args.work / "state.json"
    started = time.strftime("%Y%m%d-%H%M%S")
    result_path = RESULTS_DIR / f"{args.name}-{started}.json"
    modes = [m for m in args.modes.split(",") if m]
    for repo in order:
        if args.summary_only or (only and repo not in only):
            continue
        if not args.clone and not has_mirror(repo, args.repos):
            print(f"{repo}: no mirror in {args.repos}: skipped (recorded)", flush=True)
            continue
        ids = pick_ids(repo, task_files[repo], args)
        for mode in modes:
            code, wall = run_mode(repo, mode, task_files[repo], args, ids)
            record_run(state_path, repo, mode, code, wall)
        write_summary(len(lines), counts, order, args, read_state(state_path), result_path)
    write_summary(len(lines), counts, order, args, read_state(state_path), result_path)
    return 0


def read_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def record_run(path: Path, repo: str, mode: str, code: int, wall: float) -> None:
    """Add one invocation to WORK/state.json, read afresh (two runs of the benchmark on
    different repositories may share a work directory)."""
    state = read_state(path)
    rec = state.setdefault(repo, {}).setdefault(mode, {"wall_s": 0.0, "runs": 0})
    rec.update(exit_code=code, wall_s=rec["wall_s"] + wall, runs=rec["runs"] + 1)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


def write_summary(
    n_rows: int,
    counts: collections.Counter[str],
    order: list[str],
    args: argparse.Namespace,
    state: dict,
    path: Path,
) -> None:
    repos = [summarise(r, counts[r], args, state) for r in order]
    network = sorted(i for r in repos for i in r.network_only)
    (args.work / "network-only.txt").write_text("".join(f"{i}\n" for i in network))
    doc = {
        "benchmark": "swebench_lite_bench",
        "tasks": str(args.tasks),
        "split_instances": n_rows,
        "backend": args.backend,
        "workers": args.workers,
        "machine": machine_description(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "no_mirror": [r.repo for r in repos if not r.mirror],
        "totals": totals(repos),
        "repositories": [r.model_dump(mode="json") for r in repos],
    }
    text = json.dumps(doc, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    (args.work / "summary.json").write_text(text)
    print(f"summary: {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
