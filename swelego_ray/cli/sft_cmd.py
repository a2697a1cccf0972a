"""`swelego sft` and `swelego train-verifier`: refined SFT on Ray Train.

Both build one SFTConfig (preset/YAML file, then flags, then `key=value` overrides), which
is validated in full, with the data and the model's files, before any worker starts.
Relative paths are resolved here, against the current directory. The data summary (rows
read per format, masking rates, tokenising) is printed before training; a mistake in the
input (missing file, changed setting on resume, nothing trainable) is one `error:` line.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

_DATA = typer.Option(
    "--data",
    help="Trajectories: a .jsonl/.json/.parquet file (local or s3://) or a local directory "
    "of them (formats may be mixed).",
)
_FORMAT = typer.Option(
    "--format",
    help="Trajectory format (default auto, detected per row): openai, openhands_text, "
    "sharegpt, swe_agent, openhands_events, swelego.",
)
_MODEL = typer.Option("--model", help="Base model: Hugging Face dir, local or s3://.")
_OUT = typer.Option("--out", help="Output directory or s3:// URI (checkpoints, model, metrics).")
_WORKERS = typer.Option("--workers", min=0, help="Ray Train workers; 0 = in this process.")
_CONFIG = typer.Option(
    "--config", help="Preset name (tiny_cpu, qwen3_8b, qwen3_32b, ...) or a YAML file."
)
_GPU = typer.Option("--gpu/--cpu", help="Train on GPUs (one per worker) or CPUs.")
_RUN_NAME = typer.Option("--run-name", help="Run name; rerunning a name resumes it.")
_OVERRIDES = typer.Argument(help="Overrides as key=value (dotted keys for sections).")

_EXAMPLES = (
    "Examples:\n\n"
    "  swelego models tiny --out tiny-model\n\n"
    "  swelego sft --config tiny_cpu --data examples/trajectories "
    "--model ./tiny-model --out runs/sft --workers 2\n\n"
    "  swelego sft --config qwen3_8b --data s3://b/traj.parquet --model s3://b/Qwen3-8B "
    "--out s3://b/runs/8b --workers 8 lr=5e-5 curriculum.epochs_per_stage=2"
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _run(task: str, config, data, model, out, workers, gpu, run_name, fmt, overrides) -> None:
    from rich.console import Console

    from swelego_ray.engine import UnschedulableError
    from swelego_ray.sft import SFTInputError
    from swelego_ray.sft.config import ConfigError, load_config

    fields = {"task": task, "data": data, "model": model, "out": out, "workers": workers,
              "use_gpu": gpu, "run_name": run_name, "data_format": fmt}  # fmt: skip
    try:
        cfg = load_config(config, overrides or [], **fields)
        from swelego_ray.sft import preflight

        preflight(cfg)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    from swelego_ray.sft.train import run_sft

    console = Console(stderr=True)
    console.print(f"[bold]swelego {task}[/]: {cfg.workers} worker(s), effective batch "
                  f"{cfg.effective_batch}, out {cfg.out}")  # fmt: skip
    try:
        summary = run_sft(cfg, echo=lambda text: typer.echo(text, err=True))
    except (SFTInputError, UnschedulableError) as exc:
        _fail(str(exc))
    from swelego_ray.funnel import Funnel

    funnel = Funnel(stage=summary["funnel"]["stage"])
    funnel.seen, funnel.kept = summary["funnel"]["in"], summary["funnel"]["out"]
    funnel.skipped_cached = summary["funnel"]["reused_from_earlier_run"]
    funnel.dropped.update(summary["funnel"]["dropped"])
    console.print(funnel.render(), markup=False, highlight=False)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "funnel"}, indent=1))


def register(app: typer.Typer) -> None:
    sft_help = "Refined SFT (error masking + curriculum) on Ray Train.\n\n" + _EXAMPLES

    @app.command("sft", help=sft_help)
    def sft(
        data: Annotated[str, _DATA],
        model: Annotated[str, _MODEL],
        out: Annotated[str, _OUT],
        workers: Annotated[int | None, _WORKERS] = None,
        config: Annotated[str | None, _CONFIG] = None,
        gpu: Annotated[bool | None, _GPU] = None,
        run_name: Annotated[str | None, _RUN_NAME] = None,
        fmt: Annotated[str | None, _FORMAT] = None,
        verifier: Annotated[
            bool, typer.Option("--verifier", help="Train a verifier (same as train-verifier).")
        ] = False,
        overrides: Annotated[list[str] | None, _OVERRIDES] = None,
    ) -> None:
        task = "verifier" if verifier else "policy"
        _run(task, config, data, model, out, workers, gpu, run_name, fmt, overrides)

    @app.command(
        "train-verifier",
        help=(
            "Train a generative verifier: judge prompt -> <judgement>YES|NO</judgement>, "
            "loss only on the answer (REFERENCE: lr 2e-5, 5 epochs).\n\n"
            "  swelego train-verifier --config verifier_tiny_cpu --data labelled.jsonl "
            "--model ./tiny --out runs/verifier --workers 2"
        ),
    )
    def train_verifier(
        data: Annotated[str, _DATA],
        model: Annotated[str, _MODEL],
        out: Annotated[str, _OUT],
        workers: Annotated[int | None, _WORKERS] = None,
        config: Annotated[str | None, _CONFIG] = None,
        gpu: Annotated[bool | None, _GPU] = None,
        run_name: Annotated[str | None, _RUN_NAME] = None,
        fmt: Annotated[str | None, _FORMAT] = None,
        overrides: Annotated[list[str] | None, _OVERRIDES] = None,
    ) -> None:
        _run("verifier", config, data, model, out, workers, gpu, run_name, fmt, overrides)
