"""The stage engine (Ray Data actor pools) against the Ray-task fan-out it replaced, side
by side in one run, on this machine.

    .venv/bin/python benchmarks/engine_bench.py [--items 1000] [--eval-copies 3]
        [--memory-sizes 1000,10000] [--max-load 1.0]

Baseline: `fan_out` as of commit BASELINE_COMMIT (the commit before the switch), loaded
from git history into a temporary module: nothing of it is kept in the package.
Measured (Ray started once, before everything; 2 workers, 1 CPU each, on both sides):
- synthetic: N items that each sleep 50 ms;
- evaluation: the 12 sample tasks (x copies), gold patches, local sandbox, environments
  prebuilt (untimed);
each workload runs once untimed on both sides, then `--repeats` times interleaved (median);
- the engine alone: driver peak RSS while streaming 1,000 then 10,000 no-op items, and the
  time from the call to the first result.
Targets (issue 9): throughput >= 0.95x the baseline; driver memory flat from 1,000 to
10,000 items; first result within 10 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as common

NAME = "engine"
BASELINE_COMMIT = "036e14e"
ROOT = Path(__file__).resolve().parents[1]


def load_baseline() -> Any:
    """`swelego_ray.fanout` as it was at BASELINE_COMMIT, imported from a temporary file."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:swelego_ray/fanout.py"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"the baseline needs this repository's git history: {exc}") from exc
    path = Path(tempfile.mkdtemp(prefix="engine-bench-")) / "baseline_fanout.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_fanout", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_fanout"] = module
    spec.loader.exec_module(module)
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module


def sleep_item(item: int, ctx: Any = None) -> dict[str, int]:
    time.sleep(0.05)
    return {"item": item}


def noop_item(item: int, ctx: Any = None) -> dict[str, int]:
    return {"item": item}


def timed(run) -> tuple[float, Any]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def compare(
    baseline: Any, fn, items: list[Any], item_id, engine_extra: dict[str, Any], repeats: int
) -> dict[str, Any]:
    """Median wall time of the baseline fan-out and of the engine on the same items, runs
    interleaved after one untimed warm-up run of each (worker processes, kept start states)."""
    import statistics

    from swelego_ray.engine import EngineConfig, run_items, stateless

    def old_style(item: Any) -> Any:  # the baseline has its own ItemOutput class
        out = fn(item)
        return baseline.ItemOutput(**out.model_dump()) if hasattr(out, "files") else out

    base_cfg = baseline.FanoutConfig(workers=2, cpus_per_item=1, progress=False)
    cfg = EngineConfig(workers=2, cpus_per_item=1, progress=False, **engine_extra)

    def run_base(some: list[Any]) -> Any:
        return baseline.fan_out(some, old_style, stage="b", item_id=item_id, config=base_cfg)

    def run_engine(some: list[Any]) -> Any:
        return run_items(some, stateless(fn), stage="e", item_id=item_id, config=cfg)

    run_base(items[:4])
    run_engine(items[:4])
    base_s, eng_s, ok = [], [], [0, 0]
    for _ in range(repeats):
        seconds, base = timed(lambda: run_base(items))
        base_s.append(seconds)
        seconds, eng = timed(lambda: run_engine(items))
        eng_s.append(seconds)
        ok[0] += sum(r.ok for r in base.results)
        ok[1] += sum(r.ok for r in eng.results)
    return {"baseline_s": statistics.median(base_s), "engine_s": statistics.median(eng_s),
            "baseline_runs": base_s, "engine_runs": eng_s, "ok": ok}  # fmt: skip


def eval_items(copies: int) -> list[Any]:
    from swelego_ray.envs.builder import EnvBuilder
    from swelego_ray.evaluate import EvalItem, Prediction
    from swelego_ray.harness import task_environment
    from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
    from swelego_ray.sandbox import Limits
    from swelego_ray.schema import read_tasks

    root = Path(tempfile.mkdtemp(prefix="engine-bench-eval-"))
    repos = materialize_sample_repos(root / "repos")
    cache = root / "cache"
    builder = EnvBuilder(cache)
    items = []
    for task in read_tasks(sample_tasks_path()):
        env = task_environment(task, repos, cache)
        builder.ensure(env)
        pred = Prediction(
            instance_id=task.instance_id, model_name_or_path="gold", model_patch=task.patch
        )
        items.append(
            EvalItem(
                task=task,
                prediction=pred,
                env=env,
                backend="local",
                backend_options={"cache_root": str(cache)},
                limits=Limits(timeout_s=120, memory_mb=2048),
            )
        )
    return items * copies


class PeakRss:
    """The driver's peak resident memory while the body runs (sampled every 10 ms)."""

    def __enter__(self) -> PeakRss:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_and_first_result(sizes: list[int]) -> list[dict[str, float]]:
    from swelego_ray.engine import EngineConfig, Pipeline, stateless

    out = []
    for n in sizes:
        cfg = EngineConfig(workers=2, cpus_per_item=1, items_per_batch=50, progress=False)
        before = _rss_mib()
        start, first, count = time.perf_counter(), None, 0
        with PeakRss() as rss:
            for _ in Pipeline(
                list(range(n)), stateless(noop_item), stage="m", item_id=str, config=cfg
            ):
                count += 1
                first = first if first is not None else time.perf_counter() - start
        out.append(
            {
                "items": n,
                "results": count,
                "rss_before_mib": before,
                "peak_rss_mib": rss.peak,
                "first_result_s": first or 0.0,
                "wall_s": time.perf_counter() - start,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="synthetic items (0: none)")
    parser.add_argument("--eval-copies", type=int, default=3, help="each sample task this often")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--memory-sizes", default="1000,10000")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--max-wait-s", type=float, default=300)
    args = parser.parse_args(argv)
    quiet = common.wait_for_quiet(args.max_load, args.max_wait_s)
    baseline = load_baseline()
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    from swelego_ray._ray import init_ray

    items = eval_items(args.eval_copies)  # environments built before anything is timed
    init_ray(num_cpus=2, log_to_driver=False)
    rows, data = [], {"machine": common.machine_description(), "quiet": quiet}
    from swelego_ray.evaluate import evaluate_instance

    synthetic = list(range(args.items))
    workloads = [
        (f"{args.items} items x 50 ms", sleep_item, synthetic, {}),
        (f"{args.items} items x 50 ms, items_per_batch=8", sleep_item, synthetic,
         {"items_per_batch": 8}),
        (f"12 sample evaluations x {args.eval_copies}", evaluate_instance, items, {}),
    ]  # fmt: skip
    for name, fn, work, extra in [w for w in workloads if w[2]]:
        item_id = (lambda it: it.task.instance_id) if fn is evaluate_instance else str
        got = compare(baseline, fn, work, item_id, extra, args.repeats)
        base_s, eng_s, ok = got["baseline_s"], got["engine_s"], got["ok"]
        data[name] = {**got, "load_avg_after": common.load_average()}
        rows.append(
            [
                name,
                f"{base_s:.1f} s",
                f"{eng_s:.1f} s",
                f"{base_s / eng_s:.2f}x",
                f"{ok[0]} / {ok[1]}",
            ]
        )
        print(f"{name}: baseline {base_s:.1f} s, engine {eng_s:.1f} s", flush=True)
    print(
        f"\nthroughput, engine vs fan-out@{BASELINE_COMMIT}: medians of {args.repeats} runs"
        " after a warm-up (target >= 0.95x)"
    )
    common.print_table(
        [
            "workload",
            f"fan-out@{BASELINE_COMMIT}",
            "engine",
            "engine throughput",
            "ok (base / engine)",
        ],
        rows,
    )
    memory = memory_and_first_result([int(s) for s in args.memory_sizes.split(",")])
    data["memory"] = memory
    print("\nengine driver memory and first result (no-op items, 50 per batch)")
    common.print_table(
        ["items", "peak RSS", "RSS before", "first result", "wall"],
        [
            [
                str(m["items"]),
                f"{m['peak_rss_mib']:.0f} MiB",
                f"{m['rss_before_mib']:.0f} MiB",
                f"{m['first_result_s']:.1f} s",
                f"{m['wall_s']:.1f} s",
            ]
            for m in memory
        ],
    )
    print(f"\nresults: {common.write_results(NAME, data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
