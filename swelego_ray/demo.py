"""The main job on embedded defaults: the bundled samples through the recipe.

1. Sample repositories are materialised as git repos and their sample tasks re-validated
   (FAIL_TO_PASS / PASS_TO_PASS recomputed from scratch in sandboxes and compared with
   the recorded lists).
2. They are evaluated hack-free three ways: gold patches (all must resolve), empty
   patches (none may), and a sample model's predictions (a mix).
3. New tasks are synthesized from the sample packages by AST transforms and validated.
4. The replay teacher (mistakes on) rolls out every task; episodes are judged, labelled
   and exported for SFT.
5. The tiny model (built here) is fine-tuned on the kept trajectories on 2 Ray Train
   workers, with step-level error masking and the length curriculum.

Every stage is resumable: a second run reuses finished results.
"""

from __future__ import annotations

import hashlib
import json
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
    synth_per_repo: int = 3
    """AST tasks synthesized per sample package (0: skip synthesis)."""
    mistake_rate: float = 0.2
    """The replay teacher's mistakes (what the SFT stage's error masking masks)."""
    sft: bool = True
    """Fine-tune the tiny model on the kept trajectories."""
    sft_workers: int = 2


class DemoResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validated: int
    dropped: int
    mismatched_tests: list[str]  # instance ids whose recomputed F2P/P2P differ from the record
    evaluations: dict[str, dict[str, Any]]  # run name -> SWE-bench style counts
    synthesized: int = 0  # tasks written by synthesis
    synthesis: dict[str, Any] = {}  # its funnel
    rollouts: dict[str, Any] = {}  # episodes, kept, labels, end reasons, funnel
    sft: dict[str, Any] = {}  # final loss, stages, where the model went

    @property
    def ok(self) -> bool:
        gold, empty = self.evaluations["gold"], self.evaluations["empty"]
        return (
            not self.dropped
            and not self.mismatched_tests
            and gold["resolved_instances"] == gold["total_instances"]
            and empty["resolved_instances"] == 0
            and not self.rollouts.get("failed")
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
    say(f"[1/5] validating {len(recorded)} sample tasks ({cfg.validation_runs} runs each)")
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
        say(f"[2/5] evaluating ({i}/{len(runs)}): {name}")
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
    result = DemoResult(
        validated=len(validation.kept),
        dropped=len(validation.dropped),
        mismatched_tests=mismatched,
        evaluations=evaluations,
    )
    tasks_for_rollouts = [validated_tasks]
    if cfg.synth_per_repo:
        say(f"[3/5] synthesizing up to {cfg.synth_per_repo} AST tasks per sample package")
        synthesis = _synthesize(cfg, work, repos, shared, console)
        result.synthesized, result.synthesis = len(synthesis.tasks), synthesis.funnel
        if synthesis.tasks:
            tasks_for_rollouts.append(work / "synth" / "tasks.jsonl")
    say("[4/5] rollouts with the replay teacher (mistakes on), judged and labelled")
    result.rollouts = _rollouts(cfg, work, repos, tasks_for_rollouts, shared, console)
    if cfg.sft:
        say(f"[5/5] fine-tuning the tiny model on {result.rollouts['kept']} trajectories")
        result.sft = _fine_tune(cfg, work, say)
    return result


def _synthesize(cfg: DemoConfig, work: Path, repos: Path, shared: dict, console: Any) -> Any:
    from swelego_ray.samples import sample_names, sample_repo, sample_repo_dir
    from swelego_ray.synth import SynthConfig, run_synthesis

    sources = [
        {"path": str(sample_repo_dir(repos, name)), "name": sample_repo(name)}
        for name in sample_names()
    ]
    return run_synthesis(
        SynthConfig(
            repos=sources,
            out=str(work / "synth"),
            strategies=["ast"],
            max_per_repo=cfg.synth_per_repo,
            runs=cfg.validation_runs,
            **shared,
        ),
        console=console,
    )


def _rollouts(
    cfg: DemoConfig, work: Path, repos: Path, task_files: list[Path], shared: dict, console: Any
) -> dict[str, Any]:
    from swelego_ray.rollout import RolloutConfig, run_rollouts
    from swelego_ray.schema import read_tasks, write_tasks

    tasks = [t for path in task_files for t in read_tasks(path)]
    all_tasks = work / "rollout-tasks.jsonl"
    write_tasks(tasks, all_tasks)
    report = run_rollouts(
        RolloutConfig(
            tasks=str(all_tasks),
            repos_dir=str(repos),
            out=str(work / "rollout"),
            teacher={"kind": "replay", "replay": {"mistake_rate": cfg.mistake_rate}},
            **shared,
        ),
        console=console,
    )
    return report.model_dump(
        include={"episodes", "kept", "labels", "end_reasons", "hacking", "failed", "funnel"}
    )


def _fine_tune(cfg: DemoConfig, work: Path, say: Any) -> dict[str, Any]:
    from swelego_ray.models.tiny import build_tiny_model
    from swelego_ray.sft.config import load_config
    from swelego_ray.sft.train import run_sft

    data = work / "rollout" / "sft.jsonl"
    done = work / "sft" / "demo-summary.json"
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    if done.is_file() and json.loads(done.read_text()).get("data_sha256") == digest:
        say("  (reused: the same trajectories were trained on by an earlier run)")
        return json.loads(done.read_text())
    model = work / "models" / "tiny"
    if not (model / "config.json").is_file():
        build_tiny_model(model, seed=0)
    config = load_config(
        "tiny_cpu", model=str(model), data=str(data), out=str(work / "sft"), workers=cfg.sft_workers
    )
    summary = run_sft(config, echo=say)
    kept = {k: summary[k] for k in ("final_loss", "stages", "model", "steps") if k in summary}
    done.write_text(json.dumps({**kept, "data_sha256": digest}, indent=1))
    return {**kept, "data_sha256": digest}
