"""run_synthesis: repositories -> candidates (per strategy) -> validation -> statements ->
DIR/tasks.jsonl, DIR/tasks.parquet, DIR/funnel.json.

Candidates come from the strategies (deterministic for a seed); validation is the spine's
`run_validation` (one environment and one clean-suite baseline per repository snapshot,
every result stored under a content key, so a rerun reuses them); statements come from
the configured writer, and a statement quoting the fix is rejected (the task dropped, or
given the fallback writer's statement, the rejection noted in the funnel); a task mined
from a pull request keeps its linked issue's text.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray import __version__
from swelego_ray.runconfig import StageRunConfig
from swelego_ray.schema import Provenance, Task, write_tasks
from swelego_ray.storage import Store, writable_store
from swelego_ray.synth.candidates import Candidate
from swelego_ray.synth.config import SynthConfig
from swelego_ray.synth.funnel import SynthFunnel
from swelego_ray.synth.repos import RepoSnapshot
from swelego_ray.synth.statements import (
    Evidence,
    StatementWriter,
    failure_lines,
    failure_messages,
    leaked_lines,
    statement_writer,
)
from swelego_ray.synth.strategies import get_strategy
from swelego_ray.validate import Dropped, ValidateConfig, ValidationReport, run_validation

logger = logging.getLogger(__name__)

UNSTABLE = "unstable"  # every test that told the states apart changed between runs
# An injected bug that makes the suite hit a sandbox limit (a loop: the deadline; runaway
# allocation: memory or disk) is dropped as bug_<reason>, and not run again.
_LIMIT_REASONS = ("timeout", "oom", "disk_limit")
_LIMIT_HITS = "bug_limit_hits.json"
STATEMENT_LEAKS = "statement_leaks"
OVER_BUDGET = "over_budget"


class SynthDrop(BaseModel):
    """A candidate that reached validation and was not written, and why."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    strategy: str
    transform: str
    reason: str
    infra: bool = False
    detail: str = ""


class SynthReport(BaseModel):
    """What a run wrote: tasks, drops after validation, the funnel (the overall one in
    `funnel`, as jobs read it; per strategy and transform in `stages`)."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[Task] = Field(default_factory=list)
    dropped: list[SynthDrop] = Field(default_factory=list)
    funnel: dict[str, Any] = Field(default_factory=dict)
    stages: dict[str, Any] = Field(default_factory=dict)
    per_repo: dict[str, int] = Field(default_factory=dict)  # tasks written per repository
    full_suite_runs: int = 0  # sandboxed suite runs validation did in this run (not reused)


def _say(console, message: str) -> None:
    logger.info("%s", message)
    if console is not None:
        console.print(message, markup=False, highlight=False)


def propose(cfg: SynthConfig, funnel: SynthFunnel, console=None) -> list[Candidate]:
    """Every strategy on every repository, in config order; candidates in that order.
    ValueError (nothing run) for a path that is not a git repository or an unknown
    strategy."""
    snapshots = [RepoSnapshot.open(r.path, r.name, r.rev, r.env_spec) for r in cfg.repos]
    names = Counter(s.repo for s in snapshots)
    if twice := sorted(n for n, c in names.items() if c > 1):
        raise ValueError(f"repositories given twice (by name): {twice}; set distinct names")
    strategies = [(name, get_strategy(name)) for name in cfg.strategies]
    out: list[Candidate] = []
    for snapshot in snapshots:
        for name, strategy in strategies:
            start = time.monotonic()
            found = strategy(snapshot, cfg, funnel)
            _say(console, f"[synth] {snapshot.repo} {name}: {len(found)} candidates "
                          f"({time.monotonic() - start:.1f}s)")  # fmt: skip
            out += found
    return out


def run_synthesis(
    cfg: SynthConfig, *, console=None, writer: StatementWriter | None = None
) -> SynthReport:
    """Synthesize, validate and write tasks (see the module docstring). `writer` overrides
    `cfg.statement_writer` (e.g. a model-backed writer built by the caller)."""
    store = writable_store(cfg.out)
    writer = writer or statement_writer(cfg.statement_writer, cfg)
    fallback = statement_writer(cfg.statement_fallback, cfg) if cfg.statement_fallback else None
    started = time.time()
    funnel = SynthFunnel()
    candidates = propose(cfg, funnel, console)
    ids = {c.instance_id for c in candidates}
    hits = {} if cfg.force else _earlier_limit_hits(cfg, store)
    hits = {iid: reason for iid, reason in hits.items() if iid in ids}
    to_run = [c for c in candidates if c.instance_id not in hits]
    write_tasks([c.to_task() for c in to_run], store.uri_of("candidates.jsonl"))
    validation = _validate(cfg, store) if to_run else ValidationReport()
    validation = _bug_limit_hits(cfg, store, candidates, validation, hits)
    funnel.reused = int(validation.funnel.get("reused_from_earlier_run", 0)) + len(hits)
    report = _finish(cfg, store, candidates, validation, funnel, writer, fallback)
    report.full_suite_runs = _suite_runs(cfg, store)
    _write(cfg, store, report, funnel, started, len(candidates))
    _say(console, funnel.render())
    return report


def _validate(cfg: SynthConfig, store: Store) -> ValidationReport:
    run = {name: getattr(cfg, name) for name in StageRunConfig.model_fields}
    vcfg = ValidateConfig(
        **run,
        candidates=store.uri_of("candidates.jsonl"),
        out=store.uri_of("validate"),
        runs=cfg.runs,
        min_fail_to_pass=1,
        min_pass_to_pass=cfg.min_pass_to_pass,
        force=cfg.force,
    )
    return run_validation(vcfg)


def _earlier_limit_hits(cfg: SynthConfig, store: Store) -> dict[str, str]:
    """Synthetic candidates that hit a sandbox limit in an earlier run with the same
    limits -> their drop reason (validation retries such items as infrastructure
    failures; here they are the bug's)."""
    try:
        earlier = store.read_json(_LIMIT_HITS)
    except KeyError:
        return {}
    limits = cfg.limits.model_dump(mode="json")
    return {iid: hit["reason"] for iid, hit in earlier.items() if hit["limits"] == limits}


def _bug_limit_hits(
    cfg: SynthConfig,
    store: Store,
    candidates: list[Candidate],
    validation: ValidationReport,
    earlier: dict[str, str],
) -> ValidationReport:
    """Synthetic candidates dropped because their suite hit the deadline, the memory or
    the disk limit become `bug_<reason>` (a verdict on the bug: the clean suite ran within
    the same limits), remembered for later runs."""
    synthetic = {c.instance_id for c in candidates if c.provenance is not Provenance.REAL}
    limits = cfg.limits.model_dump(mode="json")
    try:
        hits = store.read_json(_LIMIT_HITS)  # every earlier hit, whatever its limits
    except KeyError:
        hits = {}
    dropped = []
    for drop in validation.dropped:
        own = not drop.detail.startswith("baseline:")  # not the clean suite's failure
        if drop.reason in _LIMIT_REASONS and drop.instance_id in synthetic and own:
            reason = f"bug_{drop.reason}"
            hits[drop.instance_id] = {"reason": reason, "limits": limits}
            drop = drop.model_copy(update={"reason": reason, "infra": False})
        dropped.append(drop)
    dropped += [
        Dropped(instance_id=iid, reason=reason, infra=False, detail="in an earlier run")
        for iid, reason in earlier.items()
    ]
    if hits:
        store.write_json(_LIMIT_HITS, hits)
    return validation.model_copy(update={"dropped": dropped})


def _unstable(drop: Dropped) -> bool:
    return drop.reason == "no_fail_to_pass" and drop.detail not in ("", "flaky: []")


def _finish(
    cfg: SynthConfig,
    store: Store,
    candidates: list[Candidate],
    validation: ValidationReport,
    funnel: SynthFunnel,
    writer: StatementWriter,
    fallback: StatementWriter | None = None,
) -> SynthReport:
    """Funnel the validation verdicts, apply the per-repo budget, write statements (the
    fallback writer's when the writer's is rejected)."""
    kept = {t.instance_id: t for t in validation.kept}
    dropped = {d.instance_id: d for d in validation.dropped}
    report = SynthReport()
    written: Counter[str] = Counter()
    for cand in candidates:  # candidate order: repo, strategy, generation order
        key, iid = cand.funnel_key, cand.instance_id

        def drop(reason: str, infra: bool = False, detail: str = "", c: Candidate = cand) -> None:
            _drop(report, funnel, c, reason, infra, detail)

        if iid in dropped:
            verdict = dropped[iid]
            if _unstable(verdict):
                funnel.reach(key, "fail_to_pass")
                drop(UNSTABLE, detail=verdict.detail)
            else:
                drop(verdict.reason, verdict.infra, verdict.detail)
            continue
        task = kept.get(iid)
        if task is None:  # validation reports every candidate; never silently lost
            drop("not_validated")
            continue
        funnel.reach(key, "fail_to_pass")
        funnel.reach(key, "stable")
        if written[task.repo] >= cfg.max_per_repo:  # before the statement: no model asked
            drop(OVER_BUDGET)
            continue
        statement = cand.problem_statement  # a real issue's own words, kept as they are
        if not statement:
            evidence = _evidence(store, task, cand)
            statement, reason, detail = _statement(writer, task, evidence)
            if statement is None and fallback is not None:
                funnel.note(key, f"{reason}->{fallback.name}")
                statement, reason, detail = _statement(fallback, task, evidence)
            if statement is None:
                drop(reason, detail=detail)
                continue
        written[task.repo] += 1
        funnel.reach(key, "written")
        # meta in key order: a reused result (read back from the store) and a fresh one
        # give byte-identical files
        meta = json.loads(json.dumps(task.meta, sort_keys=True))
        report.tasks.append(task.model_copy(update={"problem_statement": statement, "meta": meta}))
    report.per_repo = dict(written)
    return report


def _statement(
    writer: StatementWriter, task: Task, evidence: Evidence
) -> tuple[str | None, str, str]:
    """(statement, "", "") or (None, drop reason, detail): the writer failed or refused
    (`statement_failed:<its reason>`), or its statement quotes the fix."""
    try:
        statement = writer.write(task, evidence)
    except Exception as exc:  # a writer's failure is this task's, not the run's
        why = getattr(exc, "reason", None) or type(exc).__name__  # the writer's reason
        return None, f"statement_failed:{why}", str(exc)[:2000]
    if leaks := leaked_lines(statement, task.patch):
        return None, STATEMENT_LEAKS, f"quotes the fix: {leaks[:3]}"
    return statement, "", ""


def _drop(
    report: SynthReport,
    funnel: SynthFunnel,
    cand: Candidate,
    reason: str,
    infra: bool,
    detail: str,
) -> None:
    strategy, transform = cand.funnel_key
    funnel.drop(cand.funnel_key, reason)
    report.dropped.append(
        SynthDrop(
            instance_id=cand.instance_id,
            strategy=strategy,
            transform=transform,
            reason=reason,
            infra=infra,
            detail=detail,
        )
    )


def _evidence(store: Store, task: Task, cand: Candidate) -> Evidence:
    """The failing tests and what one broken run printed (read from the validation
    results in the store)."""
    output = _broken_output(store.child("validate"), task)
    return Evidence(
        failing_tests=list(task.FAIL_TO_PASS),
        failure_lines=failure_lines(output),
        messages=failure_messages(output, list(task.FAIL_TO_PASS)),
        output_tail=output[-4000:],
        hint=cand.hint,
    )


def _broken_output(vstore: Store, task: Task) -> str:
    """The stored test output of the candidate's validation run that produced `task`'s
    lists ("" when not found). Synthetic candidates' runs are the broken state; for a
    real task the candidate runs are the fixed state, and the failures are the
    baseline's, which the log does not hold: the statement then names the tests only."""
    prefix = f"validate/{task.instance_id}/"
    for key in vstore.list(prefix, suffix=".json"):
        try:
            record = vstore.read_json(key)
        except (KeyError, ValueError):
            continue
        found = record.get("task") or {}
        if record.get("ok") and found.get("FAIL_TO_PASS") == task.FAIL_TO_PASS:
            try:
                return vstore.read_bytes(key.removesuffix(".json") + ".test_output.txt").decode(
                    errors="replace"
                )
            except KeyError:
                return ""
    return ""


def _suite_runs(cfg: SynthConfig, store: Store) -> int:
    """Suite runs validation did in total (baselines + candidates, x runs, less the runs of
    candidates that stopped early), from its summary (the numbers of this run, whatever an
    earlier one reused)."""
    try:
        summary = store.read_json("validate/validation.json")
    except KeyError:
        return 0
    if "suite_runs" in summary:  # candidates with no FAIL_TO_PASS left stop early
        return int(summary["suite_runs"])
    validated = summary["funnel"]["in"] - summary["funnel"]["reused_from_earlier_run"]
    baselines = summary["baselines"] - summary["baselines_reused"]
    return (validated + baselines) * cfg.runs


def _write(
    cfg: SynthConfig,
    store: Store,
    report: SynthReport,
    funnel: SynthFunnel,
    started: float,
    proposed: int,
) -> None:
    write_tasks(report.tasks, store.uri_of("tasks.jsonl"))
    write_tasks(report.tasks, store.uri_of("tasks.parquet"))
    lines = "".join(d.model_dump_json() + "\n" for d in report.dropped)
    store.write_bytes("dropped.jsonl", lines.encode())
    report.stages = funnel.as_dict()
    report.funnel = funnel.as_funnel().as_dict()
    store.write_json(
        "funnel.json",
        {
            **report.stages,
            "per_repo_written": report.per_repo,
            "candidates": proposed,
            "full_suite_runs": report.full_suite_runs,
            "swelego_version": __version__,
            "config": cfg.model_dump(mode="json"),
            "started_at": started,
            "finished_at": time.time(),
        },
    )
