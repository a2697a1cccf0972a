"""run_validation: candidate tasks -> validated tasks (>= 1 FAIL_TO_PASS), drops with reasons.

Phase 1 runs each distinct baseline once (the clean suite of a shared environment for
synthetic bugs; base + test patch for a real task), cached in the store under the
environment key and test command. Phase 2 runs each candidate's changed state and
classifies tests against its baseline. Both phases resume from the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray import __version__
from swelego_ray.engine import run_items, stateless
from swelego_ray.envs import EnvBuildError
from swelego_ray.funnel import Funnel
from swelego_ray.grading import InfraFailure, infra_failure_of
from swelego_ray.harness import is_synthetic, task_environment
from swelego_ray.patching import build_test_command, patch_test_files
from swelego_ray.schema import Task, read_tasks, write_tasks
from swelego_ray.storage import Store, content_hash, writable_store
from swelego_ray.testlogs import LogParserError, get_parser
from swelego_ray.validate._config import ChangeKind, ValidateConfig
from swelego_ray.validate._items import (
    NO_FAIL_TO_PASS,
    TOO_FEW_PASS_TO_PASS,
    BaselineJob,
    CandidateJob,
    baseline_key,
    candidate_key,
    run_baseline,
    run_candidate,
)

logger = logging.getLogger(__name__)


class Dropped(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: str
    reason: str
    infra: bool  # an infrastructure failure, not a verdict on the candidate
    detail: str = ""


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kept: list[Task] = Field(default_factory=list)
    dropped: list[Dropped] = Field(default_factory=list)
    funnel: dict = Field(default_factory=dict)


def change_kind(task: Task, configured: ChangeKind) -> ChangeKind:
    if configured is not ChangeKind.AUTO:
        return configured
    return ChangeKind.BUG if is_synthetic(task) else ChangeKind.FIX


@dataclass
class _Plan:
    """What to run: each distinct baseline once, then every candidate against its own."""

    baselines: dict[str, BaselineJob] = field(default_factory=dict)
    pending: list[tuple[Task, ChangeKind, str]] = field(default_factory=list)  # + baseline id
    dropped: list[Dropped] = field(default_factory=list)  # before reaching a sandbox


def run_validation(cfg: ValidateConfig, *, console=None) -> ValidationReport:
    """Validate candidates; write OUT/tasks.jsonl, OUT/dropped.jsonl, OUT/validation.json.

    Refused before any work (ValueError): a bad candidates file (duplicate instance ids
    included) or an `out` nothing can be written to."""
    candidates = read_tasks(cfg.candidates)  # refuses duplicate instance ids
    store = writable_store(cfg.out)
    started = time.time()
    plan = _plan(cfg, candidates)

    def reuse(record: dict) -> bool:  # infrastructure failures are retried on a rerun
        return not cfg.force and not record.get("infra", False)

    # each run of a baseline is its own item: the pool runs them side by side
    owners = [(bid, n) for bid, job in plan.baselines.items() for n in range(1, job.runs + 1)]
    base_jobs = [
        plan.baselines[bid].model_copy(update={"baseline_id": f"{bid}.run{n}", "runs": 1})
        for bid, n in owners
    ]
    base_run = run_items(
        base_jobs,
        stateless(run_baseline),
        stage="validate-baseline",
        item_id=lambda j: j.baseline_id,
        key=baseline_key,
        store=store,
        config=cfg.engine(),
        reuse=reuse,
    )
    base_records = _baseline_records(
        [bid for bid, _ in owners], [_record_of(r) for r in base_run.results]
    )
    jobs = _candidate_jobs(plan, base_records)
    cand_run = run_items(
        jobs,
        stateless(run_candidate),
        stage="validate",
        item_id=lambda j: j.task.instance_id,
        key=candidate_key,
        store=store,
        config=cfg.engine(),
        reuse=reuse,
    )
    kept, dropped = _verdicts(cfg, jobs, [_record_of(r) for r in cand_run.results])
    funnel = Funnel("validate")
    for _ in kept:
        funnel.keep()
    for d in [*plan.dropped, *dropped]:
        funnel.drop(d.reason)  # an InfraFailure value when d.infra
    funnel.skipped_cached = cand_run.funnel.skipped_cached
    report = ValidationReport(kept=kept, dropped=[*plan.dropped, *dropped], funnel=funnel.as_dict())
    runs = sum(not r.cached for r in base_run.results)  # one suite run per baseline item
    runs += sum(_suite_runs(cfg, r) for r in cand_run.results if not r.cached)
    ran = {bid for (bid, _), r in zip(owners, base_run.results, strict=True) if not r.cached}
    reused = len(plan.baselines) - len(ran)
    _write_report(cfg, store, report, started, baselines=len(plan.baselines), reused=reused,
                  suite_runs=runs)  # fmt: skip
    if console is not None:
        console.print(funnel.render())
    logger.info("%s", funnel.render())
    return report


def _plan(cfg: ValidateConfig, candidates: list[Task]) -> _Plan:
    """Environments and baselines for every candidate; candidates whose environment
    cannot be described are dropped here (infrastructure), never silently."""
    cache_root = Path(cfg.cache_root) if cfg.cache_root else None
    plan = _Plan()
    for task in candidates:
        kind = change_kind(task, cfg.change)
        try:
            env = task_environment(task, cfg.repos_dir, cache_root)
            get_parser(env.spec.log_parser)
        except (EnvBuildError, LogParserError) as exc:
            plan.dropped.append(
                Dropped(
                    instance_id=task.instance_id,
                    infra=True,
                    detail=str(exc),
                    reason=InfraFailure.ENV_BUILD.value,
                )
            )
            continue
        test_patch = task.test_patch if kind is ChangeKind.FIX else ""
        test_cmd = build_test_command(env.spec.test_cmd, patch_test_files(test_patch))
        job = BaselineJob(
            baseline_id="",
            env=env,
            test_cmd=test_cmd,
            test_patch=test_patch,
            runs=cfg.runs,
            backend=cfg.backend_name,
            backend_options=cfg.backend_options,
            limits=cfg.limits,
            parser=env.spec.log_parser,
        )
        bid = f"{env.key}-{content_hash(test_cmd, test_patch)}"
        plan.baselines.setdefault(bid, job.model_copy(update={"baseline_id": bid}))
        plan.pending.append((task, kind, bid))
    return plan


def _baseline_records(owners: list[str], records: list[dict]) -> dict[str, dict]:
    """Each baseline's record from the records of its runs (`owners[i]`: the baseline of
    `records[i]`): every run's status map in order when all succeeded, else the first
    failure."""
    out: dict[str, dict] = {}
    for bid, record in zip(owners, records, strict=True):
        done = out.setdefault(bid, {"ok": True, "runs": []})
        if not done["ok"]:
            continue
        out[bid] = {**done, "runs": done["runs"] + record["runs"]} if record["ok"] else record
    return out


def _candidate_jobs(plan: _Plan, base_records: dict[str, dict]) -> list[CandidateJob]:
    return [
        CandidateJob(
            task=task,
            kind=kind,
            baseline=base_records[bid],
            **plan.baselines[bid].model_dump(exclude={"baseline_id"}),
        )
        for task, kind, bid in plan.pending
    ]


def _verdicts(
    cfg: ValidateConfig, jobs: list[CandidateJob], records: list[dict]
) -> tuple[list[Task], list[Dropped]]:
    """Validated tasks kept (enough FAIL_TO_PASS / PASS_TO_PASS), the rest dropped."""
    kept: list[Task] = []
    dropped: list[Dropped] = []
    for job, record in zip(jobs, records, strict=True):
        iid = job.task.instance_id
        if not record["ok"]:
            dropped.append(
                Dropped(
                    instance_id=iid,
                    reason=record["reason"],
                    infra=record["infra"],
                    detail=record.get("detail", "")[:4000],
                )
            )
            continue
        task = Task.model_validate(record["task"])
        if len(task.FAIL_TO_PASS) < cfg.min_fail_to_pass:
            dropped.append(
                Dropped(
                    instance_id=iid,
                    reason=NO_FAIL_TO_PASS,
                    infra=False,
                    detail=f"flaky: {record.get('flaky', [])[:10]}",
                )
            )
        elif len(task.PASS_TO_PASS) < cfg.min_pass_to_pass:
            dropped.append(Dropped(instance_id=iid, reason=TOO_FEW_PASS_TO_PASS, infra=False))
        else:
            kept.append(task)
    return kept, dropped


def _write_report(
    cfg: ValidateConfig,
    store: Store,
    report: ValidationReport,
    started: float,
    *,
    baselines: int,
    reused: int,
    suite_runs: int,
) -> None:
    write_tasks(report.kept, store.uri_of("tasks.jsonl"))
    lines = "".join(d.model_dump_json() + "\n" for d in report.dropped)
    store.write_bytes("dropped.jsonl", lines.encode())
    store.write_json(
        "validation.json",
        {
            "swelego_version": __version__,
            "config": cfg.model_dump(mode="json"),
            "started_at": started,
            "finished_at": time.time(),
            "funnel": report.funnel,
            "baselines": baselines,
            "baselines_reused": reused,
            "suite_runs": suite_runs,
        },
    )


def _suite_runs(cfg: ValidateConfig, res) -> int:
    """Suite runs a candidate did in this run: `runs`, fewer when it stopped early (one
    that failed is counted as if it did them all)."""
    record = res.record if res.ok and res.record is not None else {}
    return int(record.get("runs_done", cfg.runs))


def _record_of(res) -> dict:
    """An engine result as a validation record (host-side failures included)."""
    if res.ok and res.record is not None:
        return res.record
    reason = infra_failure_of(res.reason)
    return {"ok": False, "reason": reason.value, "infra": True, "detail": res.error}


__all__ = ["Dropped", "ValidationReport", "change_kind", "run_validation"]
