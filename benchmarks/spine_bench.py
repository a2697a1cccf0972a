"""The spine benchmark on the sample tasks (examples/tasks.jsonl): sandbox start latency per
backend, harness time per task against the raw test run, and throughput with 1 vs 2 Ray
workers, printed side by side with their baselines and targets in one run.

    .venv/bin/python benchmarks/spine_bench.py [--backend local|docker] [--repeats 3]
        [--start-n 30] [--task ID ...] [--json OUT] [--max-load 2] [--max-wait-s 600]
        [--skip-docker] [--save-reference] [--harness-only]

Baselines, named in the output:
- start latency: the local backend with a plain-copy workspace (`cp -a`) instead of OverlayFS;
- harness: the task's own test command (`pytest -rA <files>`) exec'd in one sandbox that is
  already in the state the harness tests in (sanitised start state, gold patch and test
  patch applied): the cost of the test run alone, bubblewrap exec included;
- throughput: the same evaluation with one worker.
Docker is measured on DOCKER_HOST, else on podman's Docker-API service started on a private
socket; when neither works its row says "unavailable: <reason>".

Every run writes benchmarks/results/spine-<UTC time>.json; `--save-reference` also writes
benchmarks/results/spine_reference.json, the run later runs are compared with.
`--harness-only` measures the harness overhead alone (no start latency, Docker or Ray
throughput; results in spine-harness-<UTC time>.json), for repeated runs on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as common
import spine_measure as m

NAME = "spine"
TARGETS = {"local_start_ms": 100.0, "overhead_pct": 15.0, "speedup": 1.7}


def open_docker(stack: ExitStack, workdir: Path, cache_root: Path | None) -> dict[str, Any]:
    """Backend options (JSON) for a reachable Docker-API engine (DOCKER_HOST, else podman's service
    started here), with the base image present. Raises with the reason otherwise."""
    import docker

    from swelego_ray.envs import DockerEnvConfig
    from swelego_ray.envs.base_image import ensure_base_image
    from swelego_ray.envs.images import ImageConfig
    from swelego_ray.envs.repos import default_cache_root
    from swelego_ray.sandbox.podman_service import PodmanService

    url = os.environ.get("DOCKER_HOST")
    if not url:
        url = stack.enter_context(PodmanService(workdir / "podman")).url
    client = docker.DockerClient(base_url=url, timeout=900)
    try:
        base = ensure_base_image(client, cache_root or default_cache_root())
    finally:
        client.close()
    images = ImageConfig(base_image=base, host_interpreters=True, wheelhouse=True)
    config = DockerEnvConfig(base_url=url, images=images, cache_root=cache_root)
    return config.model_dump(mode="json")  # options travel as JSON (Ray, stored run config)


def _say(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[spine_bench {common.now_utc()[11:19]}] {message}", file=sys.stderr, flush=True)


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "NO")


def _row(key: str, metric: str, measured: Any, unit: str, baseline: str, **extra: Any) -> dict:
    return {"key": key, "metric": metric, "measured": measured, "unit": unit,
            "baseline": baseline, "target": "-", "met": None, **extra}  # fmt: skip


def metrics(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows as records (also stored in the results file)."""
    start = results["start_latency"]
    local, copy = start["local"], start["local (copy workspace)"]
    ready, p95 = local["start_plus_first_exec_p50_ms"], local["start_plus_first_exec_p95_ms"]
    limit = TARGETS["local_start_ms"]
    rows = [
        _row("local_start_ready_p50_ms", "local sandbox start + first exec, p50", ready, "ms",
             f"{copy['start_plus_first_exec_p50_ms']} ms (copy workspace)",
             target=f"<= {limit:.0f} ms", met=ready <= limit),
        _row("local_start_ready_p95_ms", "local sandbox start + first exec, p95", p95, "ms",
             f"{copy['start_plus_first_exec_p95_ms']} ms (copy workspace)"),
        _row("local_start_only_p50_ms", "local start() alone, p50 / p95", local["start_p50_ms"],
             "ms", f"{copy['start_p50_ms']} / {copy['start_p95_ms']} ms (copy workspace)",
             text=f"{local['start_p50_ms']} / {local['start_p95_ms']} ms"),
    ]  # fmt: skip
    docker = start["docker"]
    if "unavailable" in docker:
        text = f"unavailable: {docker['unavailable']}"
    else:
        text = f"{docker['start_plus_first_exec_p50_ms']} / "
        text += f"{docker['start_plus_first_exec_p95_ms']} ms"
    rows.append(
        _row("docker_start_ready_p50_ms", "docker sandbox start + first exec, p50 / p95",
             docker.get("start_plus_first_exec_p50_ms"), "ms", f"{ready} / {p95} ms (local)",
             text=text)
    )  # fmt: skip
    harness = results["harness"]
    overhead, limit = harness["overhead_pct"], TARGETS["overhead_pct"]
    rows += [
        _row("harness_mean_ms", f"harness time per task ({results['backend']}, mean of medians)",
             round(harness["harness_mean_s"] * 1000), "ms",
             f"{round(harness['raw_mean_s'] * 1000)} ms (raw test command, exec'd in a "
             "prepared sandbox)"),
        _row("harness_overhead_pct", "harness overhead over the raw test run", overhead, "%",
             "0 % (raw test run)", target=f"<= {limit:.0f} %", met=overhead <= limit),
    ]  # fmt: skip
    tp = results["throughput"]
    one, two = tp["by_workers"]["1"], tp["by_workers"]["2"]
    speedup, limit = round(tp["speedup"], 2), TARGETS["speedup"]
    rows += [
        _row("throughput_1w_tasks_per_s", f"throughput, 1 worker ({tp['tasks']} tasks on Ray)",
             one["tasks_per_s"], "tasks/s",
             f"{tp['in_process']['tasks_per_s']} tasks/s (in process, one by one, no Ray)"),
        _row("throughput_2w_tasks_per_s", f"throughput, 2 workers ({tp['tasks']} tasks on Ray)",
             two["tasks_per_s"], "tasks/s", f"{one['tasks_per_s']} tasks/s (1 worker)"),
        _row("speedup_2w", f"speed-up, 2 vs 1 workers ({os.cpu_count()} cores)", speedup, "x",
             "1.0 x (1 worker)", target=f">= {limit} x", met=speedup >= limit),
    ]  # fmt: skip
    return rows


def _fmt(row: dict[str, Any]) -> str:
    if "text" in row:
        return row["text"]
    return "-" if row["measured"] is None else f"{row['measured']} {row['unit']}"


def print_report(results: dict[str, Any], reference: dict[str, Any] | None) -> None:
    ref_rows = {r["key"]: r for r in (reference or {}).get("metrics", [])}
    ref_name = f"reference ({reference['date'][:10]})" if reference else "reference"
    header = ["metric", "measured", "baseline", "target", "met?", ref_name]
    table = []
    for row in results["metrics"]:
        ref = ref_rows.get(row["key"])
        cells = [row["metric"], _fmt(row), row["baseline"], row["target"], _met(row["met"])]
        table.append([*cells, _fmt(ref) if ref else "-"])
    print()
    print(f"spine benchmark, {results['date']}; machine: {results['machine']}")
    print(f"command: {results['command']}")
    for section, info in results["load"].items():
        print(f"load average (1, 5, 15 min) before {section}: {info}")
    print()
    common.print_table(header, table)
    profile = results.get("harness_profile")
    if profile:
        print()
        print("where the harness time goes (cProfile, one run per task, per-task means):")
        common.print_table(
            ["phase", "s per task", "share", "calls per task"],
            [
                [p["phase"], p["s_per_task"], f"{p['share_pct']} %", p["calls_per_task"]]
                for p in profile["phases"]
            ],
        )
        print(
            f"sandbox commands per task: {profile['sandbox_commands_per_task']} "
            f"({profile['sandbox_commands_s_per_task']} s)"
        )
    tp = results["throughput"]
    busy = [f"in process: {tp['in_process']['busy_cores']}"]
    busy += [f"{w} worker(s): {row['busy_cores']}" for w, row in tp["by_workers"].items()]
    print()
    print("machine CPU busy during the throughput runs (all processes, cores): " + ", ".join(busy))


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cache_root = Path(args.cache_root) if args.cache_root else None
    samples = m.prepare_samples(workdir, cache_root, args.task)
    local_opts: dict[str, Any] = {"cache_root": cache_root}
    load: dict[str, Any] = {}
    results: dict[str, Any] = {
        "name": NAME,
        "date": common.now_utc(),
        "machine": common.machine_description(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "backend": args.backend,
        "tasks": samples.ids,
        "load": load,
    }
    with ExitStack() as stack:
        docker_opts: dict[str, Any] | None = None
        docker_reason = "skipped (--skip-docker)"
        if not args.skip_docker or args.backend == "docker":
            _say("starting a Docker-API engine (base image, podman service)")
            try:
                docker_opts = open_docker(stack, workdir, cache_root)
            except Exception as exc:  # any reason the engine is unusable goes in the row
                docker_reason = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        if args.backend == "docker" and docker_opts is None:
            raise SystemExit(f"--backend docker: no Docker-API engine: {docker_reason}")
        env = samples.envs[samples.ids[0]]
        load["start latency"] = common.wait_for_quiet(args.max_load, args.max_wait_s)
        _say(f"start latency: {args.start_n} sandboxes per backend")
        start = {
            "local": m.measure_start("local", local_opts, env, args.start_n),
            "local (copy workspace)": m.measure_start(
                "local", {**local_opts, "workspace": "copy"}, env, args.start_n
            ),
        }
        try:
            if docker_opts is None:
                raise RuntimeError(docker_reason)
            start["docker"] = m.measure_start("docker", docker_opts, env, args.start_n)
        except Exception as exc:
            start["docker"] = {"unavailable": f"{str(exc).strip()[:200]}"}
        results["start_latency"] = start
        opts = docker_opts if args.backend == "docker" else local_opts
        assert opts is not None
        load["harness"] = common.wait_for_quiet(args.max_load, args.max_wait_s)
        _say(f"harness vs raw test run: {len(samples.ids)} tasks x {args.repeats} repeats")
        results["harness"] = m.measure_harness_vs_raw(
            samples, args.backend, opts, args.repeats, workdir
        )
        if results["harness"]["overhead_pct"] > TARGETS["overhead_pct"] or args.profile:
            _say("profiling the harness (one run per task)")
            results["harness_profile"] = m.profile_harness(samples, args.backend, opts, workdir)
        load["throughput"] = common.wait_for_quiet(args.max_load, args.max_wait_s)
        _say(f"throughput: 1 vs 2 workers on Ray, {args.repeats} repeats")
        results["throughput"] = m.measure_throughput(
            samples, args.backend, opts, args.repeats, workdir
        )
        load["end"] = {"load_avg": common.load_average()}
    results["metrics"] = metrics(results)
    return results


def run_harness_only(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The harness-vs-raw measurement alone (and its profile with --profile)."""
    cache_root = Path(args.cache_root) if args.cache_root else None
    samples = m.prepare_samples(workdir, cache_root, args.task)
    opts: dict[str, Any] = {"cache_root": cache_root}
    results: dict[str, Any] = {
        "name": f"{NAME}-harness",
        "date": common.now_utc(),
        "machine": common.machine_description(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "backend": "local",
        "tasks": samples.ids,
        "load": {"harness": common.wait_for_quiet(args.max_load, args.max_wait_s)},
    }
    _say(f"harness vs raw test run: {len(samples.ids)} tasks x {args.repeats} repeats")
    results["harness"] = m.measure_harness_vs_raw(samples, "local", opts, args.repeats, workdir)
    results["load"]["end"] = {"load_avg": common.load_average()}
    if args.profile:
        results["harness_profile"] = m.profile_harness(samples, "local", opts, workdir)
    return results


def print_harness_only(results: dict[str, Any]) -> None:
    harness, limit = results["harness"], TARGETS["overhead_pct"]
    print()
    print(f"spine benchmark (harness only), {results['date']}; machine: {results['machine']}")
    print(f"command: {results['command']}")
    for section, info in results["load"].items():
        print(f"load average (1, 5, 15 min) at {section}: {info}")
    print()
    common.print_table(
        ["task", "harness ms", "raw ms", "overhead"],
        [
            [t["instance_id"], round(t["harness_s"] * 1000), round(t["raw_s"] * 1000),
             f"{t['overhead_pct']} %"]
            for t in harness["per_task"]
        ],
    )  # fmt: skip
    h, r = harness["harness_mean_s"] * 1000, harness["raw_mean_s"] * 1000
    met = "yes" if harness["overhead_pct"] <= limit else "NO"
    print(
        f"\nharness overhead: {harness['overhead_pct']} % ({h:.0f} ms vs raw {r:.0f} ms, "
        f"+{h - r:.0f} ms per task; target <= {limit:.0f} %: {met})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["local", "docker"], default="local",
                        help="backend of the harness and throughput runs")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument("--start-n", type=int, default=30, help="sandboxes per start latency")
    parser.add_argument("--task", action="append", help="only this sample task (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--cache-root", help="environment cache (default: $SWELEGO_CACHE)")
    parser.add_argument("--skip-docker", action="store_true", help="don't try a Docker engine")
    parser.add_argument("--profile", action="store_true", help="profile the harness always")
    parser.add_argument("--max-load", type=float, default=2.0, help="wait below this load")
    parser.add_argument("--max-wait-s", type=float, default=600.0, help="longest wait for it")
    parser.add_argument("--save-reference", action="store_true", help="store as the reference")
    parser.add_argument("--harness-only", action="store_true",
                        help="only the harness overhead (local backend)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.harness_only and (args.save_reference or args.backend != "local"):
        parser.error("--harness-only measures the local backend and is never a reference")
    if args.repeats < 1 or args.start_n < 1:
        parser.error("--repeats and --start-n must be >= 1")
    # SIGTERM unwinds like Ctrl-C, so the podman service and the work dir are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    workdir = Path(tempfile.mkdtemp(prefix="swelego-spine-bench-"))
    if args.harness_only:
        try:
            results = run_harness_only(args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        path = common.write_results(f"{NAME}-harness", results, args.json)
        print_harness_only(results)
        print(f"\nresults: {path}")
        return
    try:
        results = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    reference = common.load_reference(NAME)
    path = common.write_results(NAME, results, args.json)
    if args.save_reference:
        common.reference_path(NAME).write_text(path.read_text())
    print_report(results, reference)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
