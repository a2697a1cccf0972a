"""The main job on embedded defaults: the bundled samples through the recipe.

1. Sample repositories are materialised as git repos and their sample tasks re-validated
   (FAIL_TO_PASS / PASS_TO_PASS recomputed from scratch in sandboxes and compared with
   the recorded lists).
2. They are evaluated hack-free three ways: gold patches (all must resolve), empty
   patches (none may), and a sample model's predictions (a mix).
3. New tasks are synthesized from the sample packages by AST transforms and validated;
   with `llm_synth`, also by LLM rewrites with model-written problem statements, against
   the local tiny server (vLLM's CPU engine on loopback, started for this stage only).
4. The replay teacher (mistakes on) rolls out every task; episodes are judged, labelled
   and exported for SFT.
5. The tiny model (built here) is fine-tuned on the kept trajectories on 2 Ray Train
   workers, with step-level error masking and the length curriculum.
6. A verifier is trained on labelled episodes: the main rollouts (resolved) plus a
   budget-limited pass (more mistakes, fewer turns: unresolved ones too).
7. The fine-tuned policy and the verifier are served on Ray Serve (the TTS app); the
   served policy answers a chat request and drives K rollouts per task, graded
   hack-free; then TTS@k vs Pass@1 is measured on the sample tasks with the replay
   teacher playing the rollouts (the tiny policy cannot solve tasks), the verifier and
   the execution signals choosing.
8. A report (report.md, report.html) with every stage's funnel, plots and timings.

Every stage is resumable: a second run reuses finished results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterator
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
    llm_synth: bool = False
    """Also synthesize by LLM rewrites, with model-written problem statements, against the
    local tiny server (started for the synthesis stage, when it has work left, and stopped
    after it). The tiny random model writes nonsense: its rejections show in the funnel."""
    llm_max_tokens: int = 256
    """Tokens per LLM answer (rewrites and statements)."""
    mistake_rate: float = 0.2
    """The replay teacher's mistakes (what the SFT stage's error masking masks)."""
    sft: bool = True
    """Fine-tune the tiny model on the kept trajectories."""
    sft_workers: int = 2
    tts: bool = True
    """Train the verifier, serve policy + verifier, measure TTS@k vs Pass@1."""
    tts_tasks: int = 6
    """Sample tasks measured (the first ones of each package in turn)."""
    tts_k: int = 4
    tts_max_turns: int = 6
    """The replay teacher's edit lands at turn 5-7 (its mistakes cost turns), its finish at
    8-9: a budget of 6 lets mistakes cost the task."""
    tts_mistake_rate: float = 0.5
    report: bool = True


class DemoResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validated: int
    dropped: int
    mismatched_tests: list[str]  # instance ids whose recomputed F2P/P2P differ from the record
    evaluations: dict[str, dict[str, Any]]  # run name -> SWE-bench style counts
    synthesized: int = 0  # tasks written by synthesis
    synthesis: dict[str, Any] = {}  # its funnel
    synthesis_by_strategy: dict[str, Any] = {}  # strategy -> its staged counts and drops
    rollouts: dict[str, Any] = {}  # episodes, kept, labels, end reasons, funnel
    sft: dict[str, Any] = {}  # final loss, stages, where the model went
    verifier: dict[str, Any] = {}  # final loss, where the verifier went
    tts: dict[str, Any] = {}  # served policy's TTS and the replay TTS@k curve
    report: str = ""  # report.html

    @property
    def ok(self) -> bool:
        gold, empty = self.evaluations["gold"], self.evaluations["empty"]
        return (
            not self.dropped
            and not self.mismatched_tests
            and gold["resolved_instances"] == gold["total_instances"]
            and empty["resolved_instances"] == 0
            and not self.rollouts.get("failed")
            and not self.tts.get("failed")
        )


def run_demo(cfg: DemoConfig, *, console=None) -> DemoResult:
    """Run the sample tasks through validation and evaluation; return what happened."""
    from swelego_ray._ray import init_ray
    from swelego_ray.evaluate import EvaluateConfig, run_evaluation
    from swelego_ray.samples import (
        materialize_sample_repos,
        sample_predictions_path,
        sample_tasks_path,
    )
    from swelego_ray.schema import read_tasks
    from swelego_ray.validate import ValidateConfig, run_validation

    # the TTS app's three deployments and its rollouts need room: >= 4 logical CPUs
    init_ray(num_cpus=max(4, os.cpu_count() or 1))
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
    say(f"[1/8] validating {len(recorded)} sample tasks ({cfg.validation_runs} runs each)")
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
        say(f"[2/8] evaluating ({i}/{len(runs)}): {name}")
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
        how = "AST and LLM" if cfg.llm_synth else "AST"
        say(f"[3/8] synthesizing up to {cfg.synth_per_repo} {how} tasks per sample package")
        synthesis = synthesize(cfg, work, repos, shared, console)
        result.synthesized, result.synthesis = len(synthesis.tasks), synthesis.funnel
        result.synthesis_by_strategy = synthesis.stages.get("by_strategy", {})
        if synthesis.tasks:
            tasks_for_rollouts.append(work / "synth" / "tasks.jsonl")
    say("[4/8] rollouts with the replay teacher (mistakes on), judged and labelled")
    result.rollouts = _rollouts(cfg, work, repos, tasks_for_rollouts, shared, console)
    if cfg.sft:
        say(f"[5/8] fine-tuning the tiny model on {result.rollouts['kept']} trajectories")
        result.sft = _fine_tune(cfg, work, say)
    if cfg.tts:
        say("[6/8] training the verifier on labelled episodes (with a budget-limited pass)")
        result.verifier = _train_verifier(cfg, work, repos, shared, console, say)
        say("[7/8] serving the policy and the verifier on Ray Serve; TTS@k vs Pass@1")
        from swelego_ray.demo_tts import run_tts_stage

        policy = result.sft.get("model") or str(_tiny_model(work))
        result.tts = run_tts_stage(cfg, work, repos, policy, result.verifier["model"], say)
    if cfg.report:
        from swelego_ray.report import write_report

        say("[8/8] writing the report")
        result.report = str(write_report(work).html)
    return result


SYNTH_SUMMARY = "demo-summary.json"  # under synth/: the inputs a finished run had


def synthesize(
    cfg: DemoConfig,
    work: Path,
    repos: Path,
    shared: dict,
    console: Any = None,
    *,
    llm_url: str | None = None,
    packages: list[str] | None = None,
) -> Any:
    """The synthesis stage on the sample packages: AST tasks, and with `cfg.llm_synth` LLM
    rewrites and model-written statements; a SynthReport. Reused whole when an earlier run
    finished the same inputs (then no LLM is needed); otherwise validation results are
    reused through their keys, and the LLM is asked again. The LLM is `llm_url`, else the
    local tiny server, started here and stopped when the stage ends, whatever happens.
    `packages`: the sample packages to synthesize from (default: all)."""
    from swelego_ray.samples import sample_names
    from swelego_ray.synth import SynthReport, run_synthesis

    say = console.print if console else print
    url = llm_url or "http://127.0.0.1:0/v1"  # the local server's, once started
    synth_cfg = _synth_config(cfg, work, repos, shared, url, packages or sample_names())
    digest = _synth_digest(synth_cfg)
    done = Path(synth_cfg.out) / SYNTH_SUMMARY
    if done.is_file() and json.loads(done.read_text()).get("inputs_sha256") == digest:
        say("  (reused: an earlier run synthesized from the same inputs)")
        return SynthReport.model_validate(json.loads(done.read_text())["report"])
    if cfg.llm_synth and llm_url is None:
        with _local_llm(work, say) as url:
            report = run_synthesis(_with_url(synth_cfg, url), console=console)
    else:
        report = run_synthesis(synth_cfg, console=console)
    summary = {"inputs_sha256": digest, "report": report.model_dump(mode="json")}
    done.write_text(json.dumps(summary, indent=1))
    return report


def _synth_config(
    cfg: DemoConfig, work: Path, repos: Path, shared: dict, url: str, packages: list[str]
) -> Any:
    from swelego_ray.samples import sample_repo, sample_repo_dir
    from swelego_ray.synth import SynthConfig

    sources = [
        {"path": str(sample_repo_dir(repos, name)), "name": sample_repo(name)} for name in packages
    ]
    how: dict[str, Any] = {"strategies": ["ast"]}
    if cfg.llm_synth:
        options = {"url": url, "max_tokens": cfg.llm_max_tokens, "max_concurrency": 2}
        how = {
            "strategies": ["ast", "llm"],
            "statement_writer": "llm",
            "statement_fallback": "template",  # a rejected statement costs no validated task
            "options": {"llm": options},
        }
    return SynthConfig(
        repos=sources,
        out=str(work / "synth"),
        max_per_repo=cfg.synth_per_repo,
        runs=cfg.validation_runs,
        **(shared | how),
    )


def _with_url(synth_cfg: Any, url: str) -> Any:
    options = {**synth_cfg.options, "llm": {**synth_cfg.options["llm"], "url": url}}
    return synth_cfg.model_copy(update={"options": options})


def _synth_digest(synth_cfg: Any) -> str:
    """What the stage's output depends on: the config (run settings and the LLM's address
    aside), the repositories' commits and the synthesis code itself."""
    import swelego_ray.synth as synth_package
    from swelego_ray.runconfig import StageRunConfig
    from swelego_ray.synth import RepoSnapshot

    run_settings = set(StageRunConfig.model_fields) - {"limits"}
    config = synth_cfg.model_dump(mode="json", exclude=run_settings)
    config.get("options", {}).get("llm", {}).pop("url", None)
    commits = [RepoSnapshot.open(r.path, r.name, r.rev).commit for r in synth_cfg.repos]
    h = hashlib.sha256(json.dumps([config, commits], sort_keys=True).encode())
    code = Path(synth_package.__file__).parent
    for path in sorted(p for p in code.rglob("*") if p.is_file() and p.suffix != ".pyc"):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def _local_llm(work: Path, say: Any) -> Iterator[str]:
    """The local tiny server (vLLM's CPU engine on loopback) for the block; its URL.
    Stopped when the block ends, on errors, Ctrl-C and SIGTERM too (the server runs in
    its own session: the terminal's signals do not reach it)."""
    from swelego_ray.llm.local_server import LocalServer

    log = work / "synth" / "vllm.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = LocalServer(_tiny_model(work), log_path=log)
    say(f"  starting the local tiny LLM server (vLLM CPU engine; log {log})")
    with _sigterm_exits(), server:
        say(f"  LLM server up on {server.base_url} after {server.startup_s:.0f} s")
        yield server.base_url
    say("  LLM server stopped")


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM raises SystemExit in the block (cleanup code runs), in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    data = work / "rollout" / "sft.jsonl"
    return _train_once("tiny_cpu", data, work / "sft", cfg.sft_workers, work, say)


def _train_once(
    preset: str, data: Path, out: Path, workers: int, work: Path, say: Any
) -> dict[str, Any]:
    """Train the tiny model on `data` with `preset`, unless an earlier run trained on the
    same data (its summary in `out/demo-summary.json` is then returned)."""
    from swelego_ray.sft.config import load_config
    from swelego_ray.sft.train import run_sft

    done = out / "demo-summary.json"
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    if done.is_file() and json.loads(done.read_text()).get("data_sha256") == digest:
        say("  (reused: an earlier run trained on the same data)")
        return json.loads(done.read_text())
    model = str(_tiny_model(work))
    config = load_config(preset, model=model, data=str(data), out=str(out), workers=workers)
    summary = run_sft(config, echo=say)
    kept = {k: summary[k] for k in ("final_loss", "stages", "model", "steps") if k in summary}
    done.write_text(json.dumps({**kept, "data_sha256": digest}, indent=1))
    return {**kept, "data_sha256": digest}


def _tiny_model(work: Path) -> Path:
    from swelego_ray.models import ensure_tiny_model

    return ensure_tiny_model(work / "models" / "tiny")


def _train_verifier(
    cfg: DemoConfig, work: Path, repos: Path, shared: dict, console: Any, say: Any
) -> dict[str, Any]:
    """The verifier on every labelled episode: the main rollouts plus a budget-limited
    pass over the sample tasks (mistakes cost turns there, so some run out)."""
    from swelego_ray.rollout import RolloutConfig, run_rollouts
    from swelego_ray.samples import sample_tasks_path

    run_rollouts(
        RolloutConfig(
            tasks=str(sample_tasks_path()),
            repos_dir=str(repos),
            out=str(work / "rollout-budget"),
            teacher={"kind": "replay", "replay": {"mistake_rate": cfg.tts_mistake_rate}},
            agent={"max_turns": cfg.tts_max_turns - 1},
            **shared,
        ),
        console=console,
    )
    data = work / "verifier-data.jsonl"
    rows = [
        line
        for name in ("rollout", "rollout-budget")
        for line in (work / name / "trajectories.jsonl").read_text().splitlines()
    ]
    data.write_text("\n".join(rows) + "\n")
    return _train_once("verifier_tiny_cpu", data, work / "verifier", 0, work, say)
