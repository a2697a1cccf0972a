"""`swelego rollout`: validated tasks -> judged, labelled trajectories for SFT."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from swelego_ray.cli.evaluate_cmd import (
    _CACHE,
    _IN_PROCESS,
    _MEMORY,
    _PROGRESS,
    _RAY,
    _TEST_TIMEOUT,
    _WORKERS,
    Backend,
    _common,
    _config,
    _console,
    _fail,
    _ids,
)


class CallForm(StrEnum):
    native = "native"
    text = "text"


def rollout(
    tasks: Annotated[str, typer.Option("--tasks", help="Validated tasks (.jsonl/.json/.parquet).")],
    out: Annotated[str, typer.Option("--out", help="Output directory.")],
    repos: Annotated[
        Path | None,
        typer.Option(
            "--repos",
            help="Repositories directory (owner__name); not needed for tasks that name their "
            "repository's path (swelego synth writes it).",
        ),
    ] = None,
    teacher: Annotated[
        str,
        typer.Option(
            "--teacher",
            help="`replay` (scripted from the gold patch: tests, demos) or the base URL of "
            "an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.",
        ),
    ] = "replay",
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model name (default: the only one served)."),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = "SWELEGO_LLM_API_KEY",
    k: Annotated[int, typer.Option("--k", min=1, max=64, help="Episodes per task.")] = 1,
    max_turns: Annotated[int, typer.Option("--max-turns", min=1, help="Turns per episode.")] = 100,
    call_form: Annotated[
        CallForm, typer.Option("--call-form", help="native tool calls or <function=...> text.")
    ] = CallForm.native,
    mistake_rate: Annotated[
        float,
        typer.Option("--mistake-rate", min=0.0, max=1.0, help="Replay teacher: mistake rate."),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Replay teacher: seed.")] = 0,
    instance_ids: Annotated[
        list[str] | None, typer.Option("--instance-ids", help="Only these ids (comma-separated).")
    ] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend.")] = Backend.local,
    workers: Annotated[int | None, _WORKERS] = None,
    test_timeout: Annotated[float | None, _TEST_TIMEOUT] = None,
    memory_mb: Annotated[int | None, _MEMORY] = None,
    cache_root: Annotated[Path | None, _CACHE] = None,
    ray_address: Annotated[str | None, _RAY] = None,
    in_process: Annotated[bool, _IN_PROCESS] = False,
    progress: Annotated[bool, _PROGRESS] = True,
    force: Annotated[bool, typer.Option("--force", help="Rerun finished episodes.")] = False,
) -> None:
    """Run K agent episodes per task from its sanitised start state, judge each final patch
    with the evaluation code (resolved / semi-resolved / unresolved), drop git hacking,
    and export OUT/trajectories.jsonl, OUT/sft.jsonl and OUT/sharegpt.jsonl.

    Examples:

      swelego rollout --tasks runs/synth/tasks.jsonl --teacher replay \\
          --mistake-rate 0.2 --k 2 --out runs/rollout

      swelego rollout --tasks tasks.jsonl --repos mirrors/ --out runs/rollout \\
          --teacher http://127.0.0.1:8000/v1 --model tiny --max-turns 30
    """
    import os

    if teacher == "replay":
        spec: dict = {"kind": "replay", "replay": {"mistake_rate": mistake_rate, "seed": seed}}
    elif teacher.startswith(("http://", "https://")):
        llm = {"base_url": teacher, "model": model or ""}
        if os.environ.get(api_key_env):
            llm["api_key"] = os.environ[api_key_env]
        spec = {"kind": "endpoint", "llm": llm}
    else:
        _fail(f"--teacher {teacher!r}: expected `replay` or an http(s):// base URL")
    fields = {
        **_common(backend, cache_root, test_timeout, memory_mb, None),
        "tasks": tasks,
        "out": out,
        "repos_dir": str(repos) if repos else None,
        "teacher": spec,
        "agent": {"max_turns": max_turns, "call_form": call_form.value},
        "k": k,
        "instance_ids": _ids(instance_ids),
        "ray_address": ray_address,
        "in_process": in_process,
        "progress": progress,
        "force": force,
    }
    if workers is not None:
        fields["workers"] = workers
    from swelego_ray.rollout import RolloutConfig, run_rollouts

    cfg = _config(RolloutConfig, fields)
    try:
        report = run_rollouts(cfg, console=_console())
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(
        f"{report.episodes} episodes: {report.kept} kept for SFT; labels {report.labels}; "
        f"ends {report.end_reasons}; git hacking {report.hacking}; failed {len(report.failed)}"
    )
    typer.echo(f"trajectories: {Path(out) / 'trajectories.jsonl'}; SFT: {Path(out) / 'sft.jsonl'}")
    if report.failed:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command("rollout")(rollout)
