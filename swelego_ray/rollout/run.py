"""run_rollouts: validated tasks -> K labelled episodes each -> SFT-ready trajectories.

Episodes run on the stage engine (one actor keeps the backend and the teacher's client);
each is stored under its content key as it finishes, so a rerun reuses finished episodes.
The driver keeps counts and the stored keys, not the trajectories:

- `trajectories.jsonl`: every episode (the project's trajectory records: OpenAI messages
  with tool calls, tools, label, final patch, per-turn tokens and timings in `meta`), in
  input order: written from the stored records once the episodes ran, so a rerun that
  reuses them writes identical files;
- `sft.jsonl` and `sharegpt.jsonl` (LLaMA-Factory): the episodes kept for training:
  resolved or semi-resolved, no git hacking (each assistant turn has a `turn_mask` slot
  for the SFT stage's error-masking rules);
- `rollout.json`: the funnel (episodes -> finished -> judged -> kept, drops by reason),
  labels, end reasons, timings.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray import __version__
from swelego_ray.engine import Pipeline
from swelego_ray.envs import EnvBuildError
from swelego_ray.funnel import Funnel
from swelego_ray.harness import task_environment
from swelego_ray.rollout.config import RolloutConfig
from swelego_ray.rollout.episode import RolloutItem, RolloutRecord, RolloutWorker, rollout_key
from swelego_ray.schema import Label, Task, read_tasks, select_tasks, to_sharegpt
from swelego_ray.storage import writable_store

logger = logging.getLogger(__name__)

KEPT_LABELS = (Label.RESOLVED, Label.SEMI_RESOLVED)


class RolloutReport(BaseModel):
    """What one run produced (also written to `rollout.json`)."""

    model_config = ConfigDict(extra="forbid")

    episodes: int = 0
    kept: int = 0
    labels: dict[str, int] = Field(default_factory=dict)
    end_reasons: dict[str, int] = Field(default_factory=dict)
    hacking: int = 0
    failed: dict[str, str] = Field(default_factory=dict)
    """Episodes that gave no record (environment, sandbox, deadline), with the reason."""
    funnel: dict[str, Any] = Field(default_factory=dict)
    mean_episode_s: float = 0.0
    mean_start_s: float = 0.0
    mean_judge_s: float = 0.0
    start_hidden: float = 0.0
    """Share of sandbox start time spent while the teacher wrote its first answer."""


def run_rollouts(cfg: RolloutConfig, *, console: Any = None) -> RolloutReport:
    """Run K episodes per task and export the kept trajectories. Bad input (a tasks file
    that cannot be read, unknown instance ids, an `out` nothing can be written to) is
    refused before any work; an episode that fails is recorded with its reason."""
    tasks = select_tasks(read_tasks(cfg.tasks), cfg.instance_ids, source=cfg.tasks)
    store = writable_store(cfg.out)
    items, failed = _plan(cfg, tasks)
    funnel = Funnel("rollout")
    for _ in failed:
        funnel.drop("env_build")
    report = RolloutReport(episodes=len(failed), failed=dict(failed))
    labels: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    times: dict[str, list[float]] = {"start": [], "wait": [], "episode": [], "judge": []}
    out = Path(cfg.out)
    started = time.time()
    pipeline = Pipeline(
        items,
        RolloutWorker,
        stage="rollout",
        item_id=lambda it: it.episode_id,
        key=rollout_key,
        store=store,
        config=cfg.engine(),
        reuse=lambda _record: not cfg.force,
    )
    finished: dict[int, tuple[str, bool]] = {}  # index -> (stored key, kept)
    for result in pipeline:
        report.episodes += 1
        if not result.ok or result.record is None or result.key is None:
            reason = result.reason.value if result.reason else "item_error"
            report.failed[result.item_id] = f"{reason}: {result.error[:300]}"
            funnel.drop(reason)
            continue
        record = result.value(RolloutRecord)
        labels[record.label.value if record.label else "unjudged"] += 1
        ends[record.end_reason or "none"] += 1
        for name, value in (
            ("start", record.start_s),
            ("wait", record.start_wait_s),
            ("episode", record.episode_s),
            ("judge", record.judge_s),
        ):
            times[name].append(value)
        kept = not record.hacking and record.label in KEPT_LABELS
        finished[result.index] = (result.key, kept)
        if record.hacking:
            report.hacking += 1
            funnel.drop("git_hacking")
        elif not kept:
            funnel.drop(f"label_{record.label.value if record.label else 'unjudged'}")
        else:
            funnel.keep(cached=result.cached)
    with _Exports(out) as exports:  # in input order: a rerun writes the same files
        for index in sorted(finished):
            key, kept = finished[index]
            record = RolloutRecord.model_validate(store.read_json(key))
            exports.all(record)
            if kept:
                exports.kept(record)
    report.kept = funnel.kept
    report.labels, report.end_reasons = dict(labels), dict(ends)
    report.funnel = funnel.as_dict()
    report.mean_start_s, report.mean_episode_s, report.mean_judge_s = (
        round(sum(v) / len(v), 3) if v else 0.0
        for v in (times["start"], times["episode"], times["judge"])
    )
    if sum(times["start"]) > 0:
        report.start_hidden = round(1 - sum(times["wait"]) / sum(times["start"]), 3)
    store.write_json("rollout.json", report.model_dump(mode="json"))
    store.write_json(
        "run.json",
        {
            "swelego_version": __version__,
            "config": cfg.model_dump(mode="json"),
            "started_at": started,
            "finished_at": time.time(),
            "funnel": report.funnel,
        },
    )
    if console is not None:
        console.print(funnel.render())
    logger.info("%s", funnel.render())
    return report


def _plan(cfg: RolloutConfig, tasks: list[Task]) -> tuple[list[RolloutItem], dict[str, str]]:
    """K items per task; episodes whose environment cannot be described fail here."""
    cache_root = Path(cfg.cache_root) if cfg.cache_root else None
    items: list[RolloutItem] = []
    failed: dict[str, str] = {}
    for task in tasks:
        try:
            env = task_environment(task, cfg.repos_dir, cache_root)
        except EnvBuildError as exc:
            for attempt in range(cfg.k):
                failed[f"{task.instance_id}#{attempt}"] = str(exc)
            continue
        for attempt in range(cfg.k):
            items.append(
                RolloutItem(
                    task=task,
                    attempt=attempt,
                    env=env,
                    backend=cfg.backend_name,
                    backend_options=cfg.backend_options,
                    limits=cfg.limits,
                    agent=cfg.agent,
                    teacher=cfg.teacher,
                )
            )
    return items, failed


class _Exports:
    """The JSONL exports, written as episodes arrive (rewritten whole by each run)."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.paths = {name: out / f"{name}.jsonl" for name in ("trajectories", "sft", "sharegpt")}
        self.files: dict[str, Any] = {}

    def __enter__(self) -> _Exports:
        self.files = {n: p.with_name(p.name + ".tmp").open("w") for n, p in self.paths.items()}
        return self

    def all(self, record: RolloutRecord) -> None:
        row = record.trajectory.model_dump(mode="json")
        row["meta"] = {**row["meta"], "attempt": record.attempt, "hacking": [
            h.model_dump() for h in record.hacking
        ]}  # fmt: skip
        self._write("trajectories", row)

    def kept(self, record: RolloutRecord) -> None:
        self._write("sft", record.trajectory.model_dump(mode="json"))
        self._write("sharegpt", to_sharegpt(record.trajectory))

    def _write(self, name: str, row: dict[str, Any]) -> None:
        self.files[name].write(json.dumps(row, ensure_ascii=False) + "\n")

    def __exit__(self, *exc: object) -> None:
        for name, f in self.files.items():
            f.close()
            f_path = self.paths[name]
            f_path.with_name(f_path.name + ".tmp").replace(f_path)


__all__ = ["RolloutReport", "run_rollouts"]
