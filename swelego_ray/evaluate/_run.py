"""run_evaluation: tasks + predictions -> per-instance results, report.json, report.md."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from swelego_ray import __version__
from swelego_ray.engine import StageRun, run_items, stateless
from swelego_ray.envs import EnvBuildError
from swelego_ray.envs.repos import RepoSourceError, clone_mirror, resolve_source
from swelego_ray.evaluate._config import EvaluateConfig, Prediction, load_predictions
from swelego_ray.evaluate._instance import (
    EvalItem,
    InstanceResult,
    evaluate_instance,
    result_key_of,
)
from swelego_ray.evaluate._report import EvaluationReport, build_report, render_markdown, rich_table
from swelego_ray.evaluate._swebench_logs import run_report_name, write_instance_logs
from swelego_ray.funnel import Funnel
from swelego_ray.grading import InfraFailure, Outcome, infra_error, infra_failure_of
from swelego_ray.harness import SOURCE_KEY, task_environment
from swelego_ray.schema import Task, read_tasks, select_tasks
from swelego_ray.storage import Store, writable_store
from swelego_ray.testlogs import LogParserError, get_parser

logger = logging.getLogger(__name__)


def run_evaluation(cfg: EvaluateConfig, *, console=None) -> EvaluationReport:
    """Evaluate predictions on tasks in sanitised sandboxes; write and return the report.

    Finished instances are reused from `cfg.out` (keyed by every input, the patch
    included); `force` reruns everything, `rerun_errors` reruns infrastructure errors.

    Refused before any work (ValueError): a bad tasks or predictions file (duplicate
    instance ids included), unknown `instance_ids`, an `out` nothing can be written to.
    A prediction whose text is not valid Unicode is that instance's error."""
    tasks = read_tasks(cfg.tasks)  # refuses duplicate instance ids
    predictions = load_predictions(cfg.predictions, tasks)  # checked against every task
    tasks = select_tasks(tasks, cfg.instance_ids, cfg.exclude_ids, source=cfg.tasks)
    store = writable_store(cfg.out)
    sources = _clone_missing(cfg, tasks)
    items, early = _plan(cfg, tasks, predictions, sources)

    def reuse(record: dict) -> bool:
        if cfg.force:
            return False
        return not (cfg.rerun_errors and record["report"]["outcome"] == Outcome.ERROR.value)

    engine = cfg.engine()
    started = time.time()
    run = run_items(
        items,
        stateless(evaluate_instance),
        stage="evaluate",
        item_id=lambda it: it.task.instance_id,
        key=result_key_of,
        store=store,
        config=engine,
        reuse=reuse,
    )
    results = list(early)
    for item, res in zip(run.items, run.results, strict=True):
        if res.ok and res.record is not None:
            results.append(res.value(InstanceResult))
            continue
        failure = infra_failure_of(res.reason)
        report = infra_error(item.task.instance_id, failure, res.error)
        results.append(
            InstanceResult(
                instance_id=item.task.instance_id,
                report=report,
                model_name_or_path=item.prediction.model_name_or_path,
                empty_patch=not (item.prediction.model_patch or "").strip(),
                env_key=item.env.key,
                duration_s=res.duration_s,
            )
        )

    funnel = Funnel("evaluate")
    for r in results:
        if r.report.resolved:
            funnel.keep()
        else:
            funnel.drop(r.report.reason or r.report.outcome.value)  # an InfraFailure or a verdict
        if r.report.reason == InfraFailure.INTERNAL:  # a bug of ours: its traceback shown
            logger.warning("%s: internal error:\n%s", r.instance_id, r.report.detail[-3000:])
    funnel.skipped_cached = run.funnel.skipped_cached
    report = build_report(
        [t.instance_id for t in tasks], results, funnel.as_dict(), submitted=list(predictions)
    )
    store.write_json("report.json", report.model_dump(mode="json"))
    _write_swebench_logs(cfg, store, report, predictions, run)
    store.write_bytes("report.md", render_markdown(report).encode())
    store.write_json(
        "run.json",
        {
            "swelego_version": __version__,
            "config": cfg.model_dump(mode="json"),
            "started_at": started,
            "finished_at": time.time(),
            "funnel": report.funnel,
            "result_keys": {r.item_id: r.key for r in run.results},
        },
    )
    if console is not None:
        console.print(rich_table(report))
        console.print(funnel.render())
    logger.info("%s", funnel.render())
    return report


def _clone_missing(cfg: EvaluateConfig, tasks: list[Task]) -> dict[str, str | Exception]:
    """Repositories missing from `repos_dir` cloned into it from `repo_url` (when
    `clone_repos`): repo -> the clone's path, or why it could not be cloned."""
    if not cfg.clone_repos or cfg.repos_dir is None:
        return {}
    sources: dict[str, str | Exception] = {}
    for repo in dict.fromkeys(t.repo for t in tasks if not t.meta.get(SOURCE_KEY)):
        try:
            resolve_source(repo, cfg.repos_dir, None)
            continue
        except RepoSourceError:
            pass
        try:
            sources[repo] = str(clone_mirror(repo, cfg.repos_dir, cfg.repo_url))
        except RepoSourceError as exc:
            logger.warning("%s", exc)
            sources[repo] = exc
    return sources


def _write_swebench_logs(
    cfg: EvaluateConfig,
    store: Store,
    report: EvaluationReport,
    predictions: dict[str, Prediction],
    run: StageRun,
) -> None:
    """SWE-bench's per-instance log layout and its `<model>.<run_id>.json` run report."""
    run_id = cfg.effective_run_id
    keys = {r.item_id: r.key for r in run.results}
    for result in report.results:
        pred = predictions[result.instance_id]
        write_instance_logs(store, run_id, result, pred, keys.get(result.instance_id))
    if predictions:
        model = next(iter(predictions.values())).model_name_or_path
        store.write_json(run_report_name(model, run_id), report.model_dump(mode="json"))


def _plan(
    cfg: EvaluateConfig,
    tasks: list[Task],
    predictions: dict[str, Prediction],
    sources: dict[str, str | Exception],
) -> tuple[list[EvalItem], list[InstanceResult]]:
    """Work items for the submitted instances, and results for those whose environment
    cannot even be described (recorded as errors, never dropped)."""
    cache_root = Path(cfg.cache_root) if cfg.cache_root else None

    items: list[EvalItem] = []
    early: list[InstanceResult] = []  # instances that failed before reaching a sandbox
    for task in tasks:
        pred = predictions.get(task.instance_id)
        if pred is None:
            continue
        problem = pred.text_problem()
        if problem is not None:
            detail = f"the prediction is not valid Unicode text, so it cannot apply: {problem}"
            early.append(_early(task, pred, InfraFailure.PATCH_APPLY, detail))
            continue
        cloned = sources.get(task.repo)
        if isinstance(cloned, Exception):
            early.append(_early(task, pred, InfraFailure.ENV_BUILD, str(cloned)))
            continue
        try:
            env = task_environment(task, cfg.repos_dir, cache_root)
            get_parser(env.spec.log_parser)
        except (EnvBuildError, LogParserError) as exc:
            early.append(_early(task, pred, InfraFailure.ENV_BUILD, str(exc)))
            continue
        items.append(
            EvalItem(
                task=task,
                prediction=pred,
                env=env,
                backend=cfg.backend_name,
                backend_options=cfg.backend_options,
                limits=cfg.limits,
            )
        )
    return items, early


def _early(task: Task, pred: Prediction, failure: InfraFailure, detail: str) -> InstanceResult:
    """The result of an instance that failed before reaching a sandbox."""
    return InstanceResult(
        instance_id=task.instance_id,
        report=infra_error(task.instance_id, failure, detail),
        model_name_or_path=pred.display_name,
        empty_patch=not (pred.model_patch or "").strip(),
    )
