"""`swelego ablate`: the learning signal of error masking and the curriculum, on the tiny
model, side by side on held-out tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def ablate(
    out: Annotated[Path, typer.Option("--out", help="Directory for the arms and the table.")],
    trajectories: Annotated[
        Path | None,
        typer.Option(
            "--trajectories",
            help="Replay-teacher trajectories (a rollout's sft.jsonl). Default: roll out the "
            "sample tasks with the replay teacher (mistakes on) first.",
        ),
    ] = None,
    episodes_per_task: Annotated[
        int, typer.Option("--episodes-per-task", min=1, help="Replay episodes per sample task.")
    ] = 3,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs per stage.")] = 2,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", min=4, help="Tokens generated per sampled turn.")
    ] = 64,
    max_sampled_turns: Annotated[
        int, typer.Option("--max-sampled-turns", min=1, help="Held-out turns sampled per arm.")
    ] = 24,
) -> None:
    """The learning signal: masking x curriculum on the tiny model, scored side by side.

    Trains the tiny model on replay-teacher trajectories in four arms (error masking
    on/off x curriculum on/off, same data, same exposure) and scores each, and the untrained
    model, on held-out tasks: loss on the resolved steps, valid tool calls in sampled turns,
    next-action agreement (tool, file) with the teacher, and how often the injected mistakes
    come back. Writes OUT/ablation.json and OUT/ablation.md. A tiny model shows little:
    the table says so.

    Example:

      swelego ablate --out runs/ablate --trajectories runs/demo/rollout/sft.jsonl
    """
    from rich.console import Console

    from swelego_ray.ablate import AblateConfig, run_ablation
    from swelego_ray.ablate.data import AblationDataError

    if trajectories is not None and not trajectories.is_file():
        typer.secho(f"error: --trajectories {trajectories}: no such file", fg="red", err=True)
        raise typer.Exit(2)
    console = Console()
    cfg = AblateConfig(
        out=str(out),
        trajectories=str(trajectories) if trajectories else None,
        episodes_per_task=episodes_per_task,
        epochs=epochs,
        max_new_tokens=max_new_tokens,
        max_sampled_turns=max_sampled_turns,
    )
    try:
        run_ablation(cfg, echo=lambda line: console.print(line, markup=False), console=console)
    except AblationDataError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo((out / "ablation.md").read_text())
    typer.echo(f"written: {out / 'ablation.json'}, {out / 'ablation.md'}")


def register(app: typer.Typer) -> None:
    app.command("ablate")(ablate)
