"""The measurements behind spine_bench.py, each usable on its own (and from tests).

- `measure_start`: sandbox start latency (reuses sandbox_bench.measure_start_latency).
- `measure_harness_vs_raw`: the whole evaluation path per task (run_evaluation on one
  instance, in process: backend, sandbox start in the task's kept start state, patch + test
  patch, tests, grade, store) against the raw test command exec'd again in one sandbox
  already at the same state (start state, gold patch and test patch applied): the cost of
  the test run alone.
- `profile_harness`: where the harness time goes (cProfile, cumulative time per phase).
- `measure_throughput`: run_evaluation over the tasks on Ray with 1 vs 2 workers.
"""

from __future__ import annotations

import cProfile
import logging
import pstats
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import CpuMeter, load_average
from sandbox_bench import measure_start_latency

from swelego_ray.envs import Environment, get_backend
from swelego_ray.evaluate import GOLD, EvaluateConfig, EvaluationReport, run_evaluation
from swelego_ray.harness import start_task_sandbox, task_environment, task_test_command
from swelego_ray.patching import PatchStep, apply_patches
from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
from swelego_ray.sandbox import Limits, Sandbox
from swelego_ray.schema import Task, read_tasks

logger = logging.getLogger(__name__)


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims (e.g. gold did not resolve)."""


@dataclass
class Samples:
    """The sample repositories, tasks and their environments."""

    repos: Path
    tasks: list[Task]
    envs: dict[str, Environment]  # by instance id
    cache_root: Path | None

    @property
    def ids(self) -> list[str]:
        return [t.instance_id for t in self.tasks]


def prepare_samples(
    workdir: Path, cache_root: Path | None = None, instance_ids: list[str] | None = None
) -> Samples:
    """Materialise the sample repositories under `workdir`; every task (or the named ones)."""
    repos = materialize_sample_repos(workdir / "repos")
    tasks = read_tasks(sample_tasks_path())
    if instance_ids:
        unknown = sorted(set(instance_ids) - {t.instance_id for t in tasks})
        if unknown:
            raise ValueError(f"not sample task ids: {', '.join(unknown)}")
        tasks = [t for t in tasks if t.instance_id in instance_ids]
    envs = {t.instance_id: task_environment(t, repos, cache_root) for t in tasks}
    return Samples(repos=repos, tasks=tasks, envs=envs, cache_root=cache_root)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure_start(backend: str, options: dict[str, Any], env: Environment, n: int) -> dict:
    """Start latency of `backend` on a sample environment (built first, not timed)."""
    return measure_start_latency(get_backend(backend, **options), env, n)


# -- harness vs raw -------------------------------------------------------------------
def evaluate_config(
    samples: Samples,
    out: Path,
    *,
    backend: str,
    options: dict[str, Any],
    ids: list[str],
    workers: int = 1,
    in_process: bool = False,
) -> EvaluateConfig:
    return EvaluateConfig(
        tasks=str(sample_tasks_path()),
        predictions=GOLD,
        repos_dir=str(samples.repos),
        out=str(out),
        cache_root=str(samples.cache_root) if samples.cache_root else None,
        backend={"kind": backend, **options},
        workers=workers,
        in_process=in_process,
        force=True,
        instance_ids=ids,
        progress=False,
    )


def _check_resolved(report: EvaluationReport, ids: list[str]) -> None:
    if report.resolved_instances != len(ids):
        raise BenchError(f"gold patches did not resolve every task: {report.details}")


def harness_once(
    samples: Samples, task: Task, out: Path, backend: str, options: dict[str, Any]
) -> float:
    """Seconds for the whole evaluation path of one task (in process, no Ray)."""
    cfg = evaluate_config(
        samples, out, backend=backend, options=options, ids=[task.instance_id], in_process=True
    )
    started = time.perf_counter()
    report = run_evaluation(cfg)
    elapsed = time.perf_counter() - started
    _check_resolved(report, [task.instance_id])
    return elapsed


@contextmanager
def prepared_sandbox(backend, task: Task, env: Environment) -> Iterator[tuple[Sandbox, str]]:
    """A sandbox in the state the harness runs the tests in (start state, gold patch and
    test patch), and the task's test command (unwrapped: no grading markers)."""
    sandbox, _head = start_task_sandbox(backend, env, task, Limits(), [])
    with sandbox:
        steps = [
            PatchStep(name="model_patch", patch=task.patch),
            PatchStep(name="test_patch", patch=task.test_patch),
        ]
        for applied in apply_patches(sandbox, steps):
            if not applied.ok:
                raise BenchError(f"{task.instance_id}: {applied.reason}")
        yield sandbox, task_test_command(task, env.spec.test_cmd)


def raw_once(sandbox: Sandbox, command: str) -> float:
    """Seconds for the test command alone, exec'd in an already prepared sandbox."""
    started = time.perf_counter()
    result = sandbox.exec(command)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise BenchError(f"the raw test run failed ({result.exit_code}): {result.output[-800:]}")
    return elapsed


def measure_harness_vs_raw(
    samples: Samples, backend: str, options: dict[str, Any], repeats: int, workdir: Path
) -> dict[str, Any]:
    """Per task: median harness seconds and median raw test-run seconds, interleaved."""
    sandboxes = get_backend(backend, **options)
    out = workdir / "harness-runs"
    first = samples.tasks[0]
    sandboxes.prepare(samples.envs[first.instance_id])
    harness_once(samples, first, out, backend, options)  # warm-up: imports, probes
    per_task = []
    for task in samples.tasks:
        env = samples.envs[task.instance_id]
        sandboxes.prepare(env)
        harness, raw = [], []
        with prepared_sandbox(sandboxes, task, env) as (sandbox, command):
            raw_once(sandbox, command)  # warm-up, as the harness runs were
            for _ in range(repeats):
                harness.append(harness_once(samples, task, out, backend, options))
                raw.append(raw_once(sandbox, command))
        h, r = _median(harness), _median(raw)
        per_task.append(
            {
                "instance_id": task.instance_id,
                "test_command": command,
                "harness_s": round(h, 4),
                "raw_s": round(r, 4),
                "overhead_pct": round(100 * (h - r) / r, 1),
                "harness_runs_s": [round(x, 4) for x in harness],
                "raw_runs_s": [round(x, 4) for x in raw],
            }
        )
    harness_total = sum(t["harness_s"] for t in per_task)
    raw_total = sum(t["raw_s"] for t in per_task)
    return {
        "tasks": len(per_task),
        "repeats": repeats,
        "harness_mean_s": round(harness_total / len(per_task), 4),
        "raw_mean_s": round(raw_total / len(per_task), 4),
        "overhead_pct": round(100 * (harness_total - raw_total) / raw_total, 1),
        "per_task": per_task,
    }


# -- where the harness time goes ------------------------------------------------------
# (label, file path fragment, function name): cumulative time of each, per task.
PHASES = [
    ("whole path (run_evaluation)", "swelego_ray/evaluate/_run.py", "run_evaluation"),
    ("environment lookup", "swelego_ray/harness.py", "task_environment"),
    ("backend lookup", "swelego_ray/harness.py", "backend_for"),
    ("sandbox start (in the kept start state)", "swelego_ray/sandbox/", "start_prepared"),
    (
        "start state (kept; sanitise + verify git on a miss)",
        "swelego_ray/harness.py",
        "start_task_sandbox",
    ),
    ("  of which: sanitise + verify git", "swelego_ray/harness.py", "prepare_start_state"),
    (
        "reset + patches + test run (one sandbox command)",
        "swelego_ray/harness.py",
        "patch_and_test",
    ),
    ("grade", "swelego_ray/grading.py", "grade"),
    ("sandbox close", "swelego_ray/sandbox/", "close"),
    ("store writes", "swelego_ray/storage/_store.py", "write_bytes"),
]
_SANDBOX_COMMANDS = ("exec", "read_file", "write_file", "diff")


def phase_breakdown(stats: pstats.Stats, tasks: int) -> dict[str, Any]:
    """Cumulative seconds per PHASES entry and sandbox commands, averaged per task."""
    table: dict[tuple[str, int, str], tuple] = stats.stats  # type: ignore[attr-defined]
    phases = []
    for label, fragment, name in PHASES:
        hits = [v for (f, _, n), v in table.items() if n == name and fragment in f]
        calls = sum(v[1] for v in hits)
        cumulative = sum(v[3] for v in hits)
        phases.append(
            {"phase": label, "calls_per_task": round(calls / tasks, 1), "s_per_task": cumulative}
        )
    commands = [
        v
        for (f, _, n), v in table.items()
        if n in _SANDBOX_COMMANDS and "swelego_ray/sandbox/" in f and "_protocol" not in f
    ]
    total = phases[0]["s_per_task"] or 1e-9
    for p in phases:
        p["s_per_task"] = round(p["s_per_task"] / tasks, 4)
        p["share_pct"] = round(100 * p["s_per_task"] * tasks / total, 1)
    return {
        "phases": phases,
        "sandbox_commands_per_task": round(sum(v[1] for v in commands) / tasks, 1),
        "sandbox_commands_s_per_task": round(sum(v[3] for v in commands) / tasks, 4),
    }


def profile_harness(
    samples: Samples, backend: str, options: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    """One harness run per task under cProfile; the time per phase."""
    profiler = cProfile.Profile()
    for task in samples.tasks:
        profiler.enable()
        try:
            harness_once(samples, task, workdir / "profile-runs", backend, options)
        finally:
            profiler.disable()
    return phase_breakdown(pstats.Stats(profiler), len(samples.tasks))


# -- throughput -----------------------------------------------------------------------
def measure_throughput(
    samples: Samples,
    backend: str,
    options: dict[str, Any],
    repeats: int,
    workdir: Path,
    workers: tuple[int, ...] = (1, 2),
) -> dict[str, Any]:
    """run_evaluation over every task on Ray with each worker count, and in process (one
    by one, no Ray: what Ray's fan-out costs), runs interleaved, after one untimed warm-up
    run that starts and warms the Ray workers."""
    from swelego_ray._ray import init_ray

    init_ray()
    ids = samples.ids

    def run(n_workers: int, out: Path, in_process: bool = False) -> dict[str, Any]:
        cfg = evaluate_config(
            samples,
            out,
            backend=backend,
            options=options,
            ids=ids,
            workers=n_workers,
            in_process=in_process,
        )
        meter, load = CpuMeter().start(), load_average()
        report = run_evaluation(cfg)
        cpu = meter.stop()
        _check_resolved(report, ids)
        return {"wall_s": round(cpu["wall_s"], 3), "busy_cores": cpu["busy_cores"], "load": load}

    def summary(rs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        wall = _median([x["wall_s"] for x in rs])
        return {
            **extra,
            "wall_s": round(wall, 3),
            "tasks_per_s": round(len(ids) / wall, 3),
            "busy_cores": _median([x["busy_cores"] for x in rs]),
            "runs": rs,
        }

    run(max(workers), workdir / "throughput-warmup")
    runs: dict[int, list[dict[str, Any]]] = {w: [] for w in workers}
    serial = []
    for r in range(repeats):
        serial.append(run(1, workdir / f"throughput-serial-{r}", in_process=True))
        for w in workers:
            runs[w].append(run(w, workdir / f"throughput-{w}w-{r}"))
    by_workers = {str(w): summary(rs, workers=w) for w, rs in runs.items()}
    low, high = str(min(workers)), str(max(workers))
    speedup = by_workers[low]["wall_s"] / by_workers[high]["wall_s"]
    return {
        "tasks": len(ids),
        "repeats": repeats,
        "in_process": summary(serial),
        "by_workers": by_workers,
        "speedup": speedup,
    }
