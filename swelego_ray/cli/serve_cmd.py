"""`swelego serve` (the TTS app on Ray Serve) and `swelego tts` (its client: one task, or
TTS@K vs Pass@1 over a task set)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from swelego_ray.serve.client import TTSClient


def register(app: typer.Typer) -> None:
    @app.command(
        "serve",
        help=(
            "Serve test-time scaling on Ray Serve: the policy (Ray Serve LLM, OpenAI "
            "routes /v1/models and /v1/chat/completions), the verifier (batched) and "
            "POST /v1/tts (K rollouts in sandboxes, the verifier's choice), until Ctrl-C. "
            "Binds 127.0.0.1; another host needs --api-key.\n\n"
            "  swelego serve --policy runs/sft/export --verifier runs/verifier/export "
            "--tasks examples/tasks.jsonl --port 8000"
        ),
    )
    def serve(
        policy: Annotated[
            str | None, typer.Option("--policy", help="Policy model directory (HF format).")
        ] = None,
        verifier: Annotated[
            str | None, typer.Option("--verifier", help="Verifier checkpoint directory.")
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", help="Serve config YAML (docs/serving.md).")
        ] = None,
        tasks: Annotated[
            list[str] | None, typer.Option("--tasks", help="Task files requests may name.")
        ] = None,
        repos: Annotated[
            str | None, typer.Option("--repos", help="Local mirrors of the tasks' repositories.")
        ] = None,
        teacher: Annotated[
            str | None,
            typer.Option(help="Who plays rollouts: policy (default) or replay (demo only)."),
        ] = None,
        host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
        port: Annotated[int | None, typer.Option(help="HTTP port.")] = None,
        api_key: Annotated[
            str | None,
            typer.Option("--api-key", envvar="SWELEGO_API_KEY", help="Bearer key required."),
        ] = None,
        ray_address: Annotated[
            str | None, typer.Option("--ray-address", help="Ray cluster to join.")
        ] = None,
    ) -> None:
        from pydantic import ValidationError

        from swelego_ray._ray import init_ray
        from swelego_ray.serve.config import ServeConfig
        from swelego_ray.serve.server import RunningApp, ServeStartError

        try:
            cfg = ServeConfig.load(
                config,
                policy={"model": policy} if policy else None,
                verifier={"model": verifier} if verifier else None,
                tts=_drop_none({"tasks": tasks, "repos_dir": repos, "teacher": teacher}),
                http=_drop_none({"host": host, "port": port, "api_key": api_key}),
            )
        except (ValueError, ValidationError) as exc:
            typer.secho(f"error: {_one_line(exc)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
        init_ray(ray_address, num_cpus=None if ray_address else _local_cpus())
        typer.echo("deploying the policy, the verifier and the TTS ingress ...")
        running = RunningApp(cfg)
        try:
            running.start()
        except ServeStartError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from exc
        typer.echo(
            f"serving at {running.base_url} (ready in {running.startup_s:.0f} s): "
            f"/v1/models, /v1/chat/completions (model {cfg.policy.model_id!r}), /v1/tts, "
            "/v1/verify; Ctrl-C stops"
        )
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ray's driver replaces SIGINT's handler
            signal.signal(sig, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopping (requests in flight get the graceful shutdown timeout)")
        finally:
            running.stop()

    @app.command(
        "tts",
        help=(
            "Ask a running `swelego serve` for test-time scaling. One task prints the "
            "candidates and the choice; --eval grades K candidates per task and prints "
            "TTS@k against Pass@1.\n\n"
            "  swelego tts --task swelego-samples__cronlite-1 --k 4\n\n"
            "  swelego tts --eval --tasks examples/tasks.jsonl --k 4 --out runs/tts"
        ),
    )
    def tts(
        url: Annotated[str, typer.Option(help="The app's root URL.")] = "http://127.0.0.1:8000",
        task: Annotated[
            list[str] | None, typer.Option("--task", help="Instance id the server knows.")
        ] = None,
        task_file: Annotated[
            Path | None, typer.Option("--tasks", help="Task file: every instance id in it.")
        ] = None,
        k: Annotated[int | None, typer.Option(min=1, help="Parallel rollouts.")] = None,
        max_turns: Annotated[
            int | None, typer.Option("--max-turns", min=1, help="Turn budget per rollout.")
        ] = None,
        seed: Annotated[int, typer.Option(min=0)] = 0,
        evaluate: Annotated[
            bool, typer.Option("--eval", help="Grade candidates; print TTS@k vs Pass@1.")
        ] = False,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write tts.json (and tts.md) here.")
        ] = None,
        api_key: Annotated[str | None, typer.Option("--api-key", envvar="SWELEGO_API_KEY")] = None,
        teacher: Annotated[
            str | None,
            typer.Option(help="policy, or replay where the server allows it (demos)."),
        ] = None,
    ) -> None:
        import asyncio

        from swelego_ray.serve.client import TTSClient, TTSClientError

        ids = list(task or [])
        if task_file is not None:
            from swelego_ray.schema import read_tasks

            try:
                ids += [t.instance_id for t in read_tasks(task_file)]
            except (OSError, ValueError) as exc:
                typer.secho(f"error: {_one_line(exc)}", fg=typer.colors.RED, err=True)
                raise typer.Exit(2) from exc
        if not ids:
            typer.secho("error: name a task (--task ID) or a task file (--tasks)", err=True)
            raise typer.Exit(2)
        try:
            code = asyncio.run(
                _tts(
                    TTSClient(url, api_key=api_key), ids, k, max_turns, seed, evaluate, out, teacher
                )
            )
        except TTSClientError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2 if 400 <= exc.status < 500 else 1) from exc
        raise typer.Exit(code)


async def _tts(
    client: TTSClient,
    ids: list[str],
    k: int | None,
    max_turns: int | None,
    seed: int,
    evaluate: bool,
    out: Path | None,
    teacher: str | None,
) -> int:
    """One request per task (a table each), or the TTS@k evaluation; the exit code."""
    from swelego_ray.serve.client import evaluate_tts
    from swelego_ray.serve.records import TTSRequest
    from swelego_ray.serve.report import candidates_table, curve_table, write_tts

    try:
        if not evaluate:
            for instance_id in ids:
                request = TTSRequest(
                    instance_id=instance_id, k=k, max_turns=max_turns, seed=seed, teacher=teacher
                )
                response = await client.tts(request)
                typer.echo(candidates_table(response))
            return 0
        if k is None:
            k = int((await client.health())["k_default"])
        result = await evaluate_tts(
            client,
            ids,
            k=k,
            max_turns=max_turns,
            seed=seed,
            teacher=teacher,
            on_done=lambda i, r: typer.echo(f"  {i}: {'done' if r else 'failed'}"),
        )
    finally:
        await client.aclose()
    typer.echo(curve_table(result))
    if out is not None:
        paths = write_tts(result, out)
        typer.echo(f"wrote {', '.join(str(p) for p in paths)}")
    return 0 if result.curve is not None and not result.failed else 3


def _drop_none(values: dict) -> dict | None:
    kept = {k: v for k, v in values.items() if v is not None}
    return kept or None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:1000]


def _local_cpus() -> int:
    """Logical CPUs of a local Ray: the policy's engine bundle, the verifier, the ingress
    and the rollouts must fit at once (at least 4, even on a 2-core laptop)."""
    import os

    return max(4, os.cpu_count() or 1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
