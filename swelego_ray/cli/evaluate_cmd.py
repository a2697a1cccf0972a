"""`swelego evaluate` and `swelego validate`; stage code is imported inside the commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Backend(StrEnum):
    local = "local"
    docker = "docker"


class Change(StrEnum):
    auto = "auto"
    fix = "fix"
    bug = "bug"


_BACKEND = typer.Option("--backend", help="Sandbox backend.")
_WORKERS = typer.Option(
    "--workers", min=1, help="Items in flight at once (Ray tasks); default 2, 1 in-process."
)
_TEST_TIMEOUT = typer.Option("--test-timeout", help="Deadline of each test command, seconds.")
_MEMORY = typer.Option("--memory-mb", help="Memory limit of each sandbox command, MiB.")
_DISK = typer.Option(
    "--disk-mb",
    min=1,
    help="What each sandbox may write (/testbed changes + /tmp), MiB; default 4096. A "
    "command that reaches it is killed and the item reported as disk_limit.",
)
_CACHE = typer.Option("--cache-root", help="Environment / checkout cache ($SWELEGO_CACHE).")
_RAY = typer.Option("--ray-address", help="Ray cluster to join (default: local on loopback).")
_IN_PROCESS = typer.Option("--in-process", help="Run items one by one here (debugging).")
_PROGRESS = typer.Option("--progress/--no-progress", help="Show a progress bar.")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _ids(values: list[str] | None) -> list[str] | None:
    """`--instance-ids a,b --instance-ids c` -> [a, b, c]."""
    if values is None:
        return None
    return [part for value in values for part in value.split(",") if part.strip()]


def _common(backend, cache_root, test_timeout, memory_mb, disk_mb) -> dict:
    from swelego_ray.sandbox import Limits

    limits = {"timeout_s": test_timeout, "memory_mb": memory_mb, "disk_mb": disk_mb}
    return {
        "backend": {
            "kind": backend.value,
            **({"cache_root": str(cache_root)} if cache_root else {}),
        },
        "cache_root": str(cache_root) if cache_root else None,
        "limits": Limits(**{k: v for k, v in limits.items() if v is not None}),
    }


def _config(cls, fields: dict):
    from pydantic import ValidationError

    try:
        return cls(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        _fail(problems)


def evaluate(
    tasks: Annotated[str, typer.Option("--tasks", help="Tasks file (.jsonl/.json/.parquet).")],
    out: Annotated[str, typer.Option("--out", help="Output directory or s3:// URI.")],
    predictions: Annotated[
        str,
        typer.Option(
            "--predictions", help="gold | empty | predictions .jsonl/.json (path or s3:// URI)"
        ),
    ] = "gold",
    repos: Annotated[Path | None, typer.Option("--repos", help="Repositories directory.")] = None,
    backend: Annotated[Backend, _BACKEND] = Backend.local,
    workers: Annotated[int | None, _WORKERS] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Deadline per instance, seconds (host side).")
    ] = 1800.0,
    test_timeout: Annotated[float | None, _TEST_TIMEOUT] = None,
    memory_mb: Annotated[int | None, _MEMORY] = None,
    disk_mb: Annotated[int | None, _DISK] = None,
    instance_ids: Annotated[
        list[str] | None,
        typer.Option("--instance-ids", help="Only these ids (repeat or comma-separate)."),
    ] = None,
    rerun_errors: Annotated[
        bool, typer.Option("--rerun-errors", help="Rerun stored infrastructure errors.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Ignore stored results.")] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
    ray_address: Annotated[str | None, _RAY] = None,
    in_process: Annotated[bool, _IN_PROCESS] = False,
    progress: Annotated[bool, _PROGRESS] = True,
) -> None:
    """Hack-free evaluation: sanitised sandboxes, prediction then test patch, graded tests.

    Writes per-instance results and logs, OUT/report.json and OUT/report.md.

    Reruns reuse finished instances (keyed by every input, the patch included).

    Refused before any work: an instance id that appears twice in the tasks file or in
    the predictions file (all duplicates are listed; nothing is de-duplicated), and an
    --out that is an existing file or cannot be written. A prediction whose text is not
    valid Unicode (e.g. a lone surrogate) is that instance's error (patch_apply_failed);
    every other instance is still graded.

    Examples:

      swelego evaluate --tasks tasks.jsonl --predictions gold --repos repos --out runs/gold

      swelego evaluate --tasks tasks.jsonl --predictions preds.jsonl --repos repos
      --out runs/m1 --workers 4 --instance-ids a__b-1,a__b-2
    """
    remote = predictions.startswith("s3://")
    if predictions not in ("gold", "empty") and not remote and not Path(predictions).is_file():
        _fail(f"--predictions {predictions!r}: not gold, empty, an existing file or s3:// URI")
    if not tasks.startswith("s3://") and not Path(tasks).is_file():
        _fail(f"--tasks {tasks!r}: no such file")
    if repos is not None and not repos.is_dir():
        _fail(f"--repos {repos}: not a directory")
    if in_process and workers not in (None, 1):
        _fail("--in-process runs one instance at a time: drop --workers or set it to 1")
    workers = workers or (1 if in_process else 2)
    from rich.console import Console

    from swelego_ray.evaluate import EvaluateConfig, run_evaluation

    fields = dict(
        tasks=tasks,
        predictions=predictions,
        out=out,
        repos_dir=str(repos) if repos else None,
        workers=workers,
        timeout_s=timeout,
        instance_ids=_ids(instance_ids),
        rerun_errors=rerun_errors,
        force=force,
        ray_address=ray_address,
        in_process=in_process,
        progress=progress,
        **_common(backend, cache_root, test_timeout, memory_mb, disk_mb),
    )
    cfg = _config(EvaluateConfig, fields)
    try:
        run_evaluation(cfg, console=Console())
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(f"report: {out.rstrip('/')}/report.json")


def validate(
    candidates: Annotated[str, typer.Option("--candidates", help="Candidate tasks file.")],
    out: Annotated[str, typer.Option("--out", help="Output directory or s3:// URI.")],
    repos: Annotated[Path | None, typer.Option("--repos", help="Repositories directory.")] = None,
    change: Annotated[
        Change, typer.Option("--change", help="What each candidate's patch is.")
    ] = Change.auto,
    runs: Annotated[
        int, typer.Option("--runs", min=1, help="Runs per state (flaky tests dropped).")
    ] = 2,
    min_f2p: Annotated[int, typer.Option("--min-f2p", min=1)] = 1,
    min_p2p: Annotated[int, typer.Option("--min-p2p", min=0)] = 0,
    backend: Annotated[Backend, _BACKEND] = Backend.local,
    workers: Annotated[int | None, _WORKERS] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Deadline per item, seconds (host side).")
    ] = 3600.0,
    test_timeout: Annotated[float | None, _TEST_TIMEOUT] = None,
    memory_mb: Annotated[int | None, _MEMORY] = None,
    disk_mb: Annotated[int | None, _DISK] = None,
    force: Annotated[bool, typer.Option("--force", help="Ignore stored results.")] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
    ray_address: Annotated[str | None, _RAY] = None,
    in_process: Annotated[bool, _IN_PROCESS] = False,
    progress: Annotated[bool, _PROGRESS] = True,
) -> None:
    """Validate candidate tasks: FAIL_TO_PASS / PASS_TO_PASS from real runs.

    Flaky tests are dropped; candidates without FAIL_TO_PASS are dropped with a reason.

    Writes OUT/tasks.jsonl (kept), OUT/dropped.jsonl and OUT/validation.json.

    Refused before any work: an instance id that appears twice among the candidates (all
    duplicates are listed; nothing is de-duplicated), and an --out that is an existing
    file or cannot be written.

    Example:

      swelego validate --candidates candidates.jsonl --repos repos --out runs/val --runs 3
    """
    if not candidates.startswith("s3://") and not Path(candidates).is_file():
        _fail(f"--candidates {candidates!r}: no such file")
    if repos is not None and not repos.is_dir():
        _fail(f"--repos {repos}: not a directory")
    if in_process and workers not in (None, 1):
        _fail("--in-process runs one item at a time: drop --workers or set it to 1")
    workers = workers or (1 if in_process else 2)
    from rich.console import Console

    from swelego_ray.validate import ValidateConfig, run_validation

    fields = dict(
        candidates=candidates,
        out=out,
        repos_dir=str(repos) if repos else None,
        change=change.value,
        runs=runs,
        min_fail_to_pass=min_f2p,
        min_pass_to_pass=min_p2p,
        workers=workers,
        timeout_s=timeout,
        force=force,
        ray_address=ray_address,
        in_process=in_process,
        progress=progress,
        **_common(backend, cache_root, test_timeout, memory_mb, disk_mb),
    )
    cfg = _config(ValidateConfig, fields)
    try:
        report = run_validation(cfg, console=Console())
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(f"kept {len(report.kept)}, dropped {len(report.dropped)}: {out}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("validate")(validate)
