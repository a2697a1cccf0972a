"""`swelego cache list` and `swelego cache prune`: see and reclaim what sandboxes cache."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated

import typer

cache_app = typer.Typer(
    help=(
        "List and prune what the sandboxes cache: environments, checkouts, kept start "
        "states, workspaces of dead processes (and docker images).\n\n"
        "Examples:\n\n"
        "  swelego cache list\n\n"
        "  swelego cache prune --kind state --older-than 7d --dry-run"
    ),
    no_args_is_help=True,
)

_CACHE = typer.Option(
    "--cache-root", help="Cache root (default $SWELEGO_CACHE or ~/.cache/swelego)."
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZES = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` (or plain seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration (use e.g. 30m, 12h, 7d, 2w)")
    return float(match[1]) * _UNITS[match[2] or "s"]


def parse_size(text: str) -> int:
    """`500M`, `20G`, `1.5T`, `0` (bytes; binary units, optional trailing B/iB) -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a size (use e.g. 0, 500M, 20G)")
    return int(float(match[1]) * _SIZES[match[2]])


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _root(cache_root: Path | None) -> Path:
    from swelego_ray.envs.repos import default_cache_root

    root = cache_root or default_cache_root()
    if not root.is_dir():
        _fail(f"--cache-root {root}: no such directory")
    return root


@cache_app.command("list")
def list_cmd(
    cache_root: Annotated[Path | None, _CACHE] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List cached items: kind, name, size, last use, and why one is in use.

    Examples:

      swelego cache list

      swelego cache list --cache-root /data/cache --json
    """
    import time

    from rich.console import Console
    from rich.table import Table

    from swelego_ray.cache import human_bytes, usage

    root = _root(cache_root)
    entries = usage(root)
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.kind] = totals.get(entry.kind, 0) + entry.bytes
    if as_json:
        doc = {
            "cache_root": str(root),
            "entries": [e.as_dict() for e in entries],
            "total_bytes": {**totals, "all": sum(totals.values())},
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    table = Table(title=f"cache {root}")
    for column in ("kind", "name", "size", "last used", "in use", "detail"):
        right = column in ("size", "last used")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    now = time.time()
    for e in entries:
        table.add_row(
            e.kind, e.name, human_bytes(e.bytes), _ago(now - e.last_used), e.busy, e.detail
        )
    console = Console()
    console.print(table)
    for kind, size in sorted(totals.items()):
        console.print(f"{kind}: {human_bytes(size)}")
    console.print(f"total: {human_bytes(sum(totals.values()))} in {len(entries)} entries")


@cache_app.command("prune")
def prune_cmd(
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="env | checkout | state | workspace | all (repeat or comma-separate)."
        ),
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Only items unused this long: 12h, 7d.")
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option("--keep", help="Stop once the kept items total at most this: 20G."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; remove nothing.")
    ] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
    docker_host: Annotated[
        str | None,
        typer.Option(
            "--docker-host",
            help="Also remove unused swelego images on this engine (default DOCKER_HOST if set).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Remove cached items safely, least recently used first.

    Never removes a start state a sandbox holds, a workspace whose process runs, or an
    environment / checkout while sandbox processes on this cache run or a build holds
    it; those are reported as skipped. Everything removed is rebuilt on demand.

    Docker images (swelego-state, swelego-env, swelego-venv, swelego-python) no container
    uses are removed only with --docker-host or DOCKER_HOST; --older-than and --keep apply
    to the local cache only.

    Examples:

      swelego cache prune --dry-run

      swelego cache prune --kind state,workspace --older-than 7d

      swelego cache prune --kind all --keep 50G --docker-host unix:///run/podman/podman.sock
    """
    from swelego_ray.cache import parse_kinds, prune, prune_docker

    try:
        kinds = parse_kinds(kind)
    except ValueError as exc:
        _fail(f"--kind: {exc}")
    try:
        older_than_s = parse_duration(older_than) if older_than is not None else None
    except ValueError as exc:
        _fail(f"--older-than: {exc}")
    try:
        keep_bytes = parse_size(keep) if keep is not None else None
    except ValueError as exc:
        _fail(f"--keep: {exc}")
    root = _root(cache_root)
    summary = prune(
        root, kinds=kinds, older_than_s=older_than_s, keep_bytes=keep_bytes, dry_run=dry_run
    )
    docker_host = docker_host or os.environ.get("DOCKER_HOST")
    if docker_host:
        from swelego_ray.sandbox import SandboxError

        try:
            prune_docker(docker_host, kinds, summary)
        except SandboxError as exc:
            _fail(f"--docker-host {docker_host}: {exc}")
    typer.echo(json.dumps(summary.as_dict(), indent=2) if as_json else summary.render())


@cache_app.command("failures")
def failures_cmd(
    forget: Annotated[
        list[str] | None,
        typer.Option("--forget", help="Forget this environment's failed build (repeatable)."),
    ] = None,
    forget_all: Annotated[
        bool, typer.Option("--forget-all", help="Forget every recorded failed build.")
    ] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
) -> None:
    """List environment builds that failed (not retried until forgotten), or forget them.

    Examples:

      swelego cache failures

      swelego cache failures --forget 'psf__requests@091991be0da1-184e737c3db22766'
    """
    from swelego_ray.envs.failures import forget_failures, list_failures

    root = _root(cache_root)
    if forget or forget_all:
        removed = forget_failures(root, None if forget_all else list(forget or []))
        unknown = sorted(set(forget or []) - set(removed))
        for key in removed:
            typer.echo(f"forgot {key}: it is built again on its next use")
        if unknown:
            _fail(f"no recorded failed build for: {', '.join(unknown)}")
        return
    for record in list_failures(root):
        first = record.error.strip().splitlines()[0][:160] if record.error.strip() else ""
        typer.echo(f"{record.key} [{record.backend}] {first}\n  log: {record.log or '-'}")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
