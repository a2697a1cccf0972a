"""The main job on embedded defaults: the bundled sample tasks through the spine.

Sample repositories are materialised as git repos, the sample tasks are re-validated
(FAIL_TO_PASS / PASS_TO_PASS recomputed from scratch in sandboxes and compared with the
recorded lists), then evaluated hack-free three ways: gold patches (all must resolve),
empty patches (none may), and a sample model's predictions (a mix). Every stage is
resumable: a second run reuses finished results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workdir: str = "runs/demo"
    workers: int = 2
    backend: str = "local"
    validation_runs: int = 2
    cache_root: str | None = None  # environment / checkout cache (default $SWELEGO_CACHE)
    progress: bool = True


class DemoResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validated: int
    dropped: int
    mismatched_tests: list[str]  # instance ids whose recomputed F2P/P2P differ from the record
    evaluations: dict[str, dict[str, Any]]  # run name -> SWE-bench style counts

    @property
    def ok(self) -> bool:
        gold, empty = self.evaluations["gold"], self.evaluations["empty"]
        return (
            not self.dropped
            and not self.mismatched_tests
            and gold["resolved_instances"] == gold["total_instances"]
            and empty["resolved_instances"] == 0
        )


def run_demo(cfg: DemoConfig, *, console=None) -> DemoResult:
    """Run the sample tasks through validation and evaluation; return what happened."""
    from swelego_ray.evaluate import EvaluateConfig, run_evaluation
    from swelego_ray.samples import (
        materialize_sample_repos,
        sample_predictions_path,
        sample_tasks_path,
    )
    from swelego_ray.schema import read_tasks
    from swelego_ray.validate import ValidateConfig, run_validation

    work = Path(cfg.workdir).resolve()
    backend: dict[str, Any] = {"kind": cfg.backend}
    shared: dict[str, Any] = {"workers": cfg.workers, "backend": backend}
    shared["progress"] = cfg.progress
    if cfg.cache_root:
        shared["cache_root"] = cfg.cache_root
        backend["cache_root"] = cfg.cache_root
    say = console.print if console else print
    repos = materialize_sample_repos(work / "repos")
    recorded = {t.instance_id: t for t in read_tasks(sample_tasks_path())}
    say(f"[1/2] validating {len(recorded)} sample tasks ({cfg.validation_runs} runs each)")
    validation = run_validation(
        ValidateConfig(
            candidates=str(sample_tasks_path()),
            repos_dir=str(repos),
            out=str(work / "validate"),
            runs=cfg.validation_runs,
            **shared,
        ),
        console=console,
    )
    mismatched = [
        t.instance_id
        for t in validation.kept
        if sorted(t.FAIL_TO_PASS) != sorted(recorded[t.instance_id].FAIL_TO_PASS)
        or sorted(t.PASS_TO_PASS) != sorted(recorded[t.instance_id].PASS_TO_PASS)
    ]
    validated_tasks = work / "validate" / "tasks.jsonl"
    evaluations: dict[str, dict[str, Any]] = {}
    runs = {"gold": "gold", "empty": "empty", "sample-model": str(sample_predictions_path())}
    for i, (name, predictions) in enumerate(runs.items(), 1):
        say(f"[2/2] evaluating ({i}/{len(runs)}): {name}")
        report = run_evaluation(
            EvaluateConfig(
                tasks=str(validated_tasks),
                predictions=predictions,
                repos_dir=str(repos),
                out=str(work / "evaluate" / name),
                **shared,
            ),
            console=console,
        )
        evaluations[name] = report.model_dump(
            include={
                "total_instances",
                "resolved_instances",
                "unresolved_instances",
                "empty_patch_instances",
                "error_instances",
                "reasons",
                "funnel",
            }
        )
    return DemoResult(
        validated=len(validation.kept),
        dropped=len(validation.dropped),
        mismatched_tests=mismatched,
        evaluations=evaluations,
    )
