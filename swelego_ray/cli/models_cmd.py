"""`swelego models tiny`: build the tiny model + tokenizer the tiny presets train.

The model is a randomly initialised ~150k-parameter Qwen3 and the tokenizer a byte-level
BPE trained on a shipped corpus (swelego_ray.models.tiny): nothing is downloaded, the
same seed gives the same files.
"""

from __future__ import annotations

import signal
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
            "--data examples/trajectories --out runs/sft"
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

    @models.command(
        "serve",
        help=(
            "Serve a local model directory with vLLM's OpenAI-compatible server "
            "(127.0.0.1 by default; CPU engine here), until Ctrl-C.\n\n"
            "  swelego models tiny --out tiny-model\n\n"
            "  swelego models serve --model tiny-model --port 8000"
        ),
    )
    def serve(
        model: Annotated[Path, typer.Option("--model", help="Hugging Face model directory.")],
        port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
        host: Annotated[
            str, typer.Option(help="Address to bind; beyond loopback needs --api-key.")
        ] = "127.0.0.1",
        name: Annotated[
            str | None, typer.Option("--name", help="Served model name (default: dir name).")
        ] = None,
        api_key: Annotated[
            str | None,
            typer.Option("--api-key", envvar="SWELEGO_LLM_API_KEY", help="Required bearer key."),
        ] = None,
        max_model_len: Annotated[int, typer.Option("--max-model-len", min=16)] = 4096,
        tool_call_parser: Annotated[
            str, typer.Option("--tool-call-parser", help="vLLM tool parser; '' disables.")
        ] = "hermes",
    ) -> None:
        from swelego_ray.llm.local_server import LocalServer, LocalServerError

        try:
            server = LocalServer(
                model,
                host=host,
                port=port or None,
                served_model_name=name,
                api_key=api_key,
                max_model_len=max_model_len,
                tool_call_parser=tool_call_parser or None,
            )
            typer.echo(f"starting vLLM for {server.model_dir} (log {server.log_path}) ...")
            server.start()
        except (ValueError, LocalServerError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        typer.echo(
            f"serving model {server.model!r} at {server.base_url} "
            f"(ready in {server.startup_s:.0f} s); Ctrl-C stops"
        )
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server too
        try:
            code = server.wait()
        except KeyboardInterrupt:
            typer.echo("stopping")
            return
        finally:
            server.stop()
        typer.secho(
            f"error: vLLM exited with code {code}; log tail:\n{server.log_tail()}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
