"""`swelego models tiny`: build the tiny model + tokenizer the tiny presets train.

The model is a randomly initialised ~150k-parameter Qwen3 and the tokenizer a byte-level
BPE trained on a shipped corpus (swelego_ray.models.tiny): nothing is downloaded, the
same seed gives the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Models the project builds itself (offline).", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command(
        "tiny",
        help=(
            "Build the tiny Qwen3 model and its tokenizer (the `tiny_cpu` presets' model) "
            "into a Hugging Face directory.\n\n"
            "  swelego models tiny --out tiny-model\n\n"
            "  swelego sft --config tiny_cpu --model ./tiny-model "
            "--data examples/trajectories/swe_gym_openhands.jsonl --out runs/sft"
        ),
    )
    def tiny(
        out: Annotated[Path, typer.Option("--out", help="Directory to write (created).")],
        seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
        max_positions: Annotated[
            int, typer.Option("--max-positions", min=16, help="max_position_embeddings.")
        ] = 32768,
        force: Annotated[
            bool, typer.Option("--force", help="Overwrite a directory that holds a model.")
        ] = False,
    ) -> None:
        from swelego_ray.models import build_tiny_model

        if (out / "config.json").exists() and not force:
            typer.secho(
                f"error: {out} already holds a model (config.json); add --force to rebuild",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        path = build_tiny_model(out, seed=seed, max_position_embeddings=max_positions)
        typer.echo(f"tiny model and tokenizer written to {path.resolve()}")
