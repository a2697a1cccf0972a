"""`swelego report`: a demo run's directory -> report.md and one self-contained report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run: Annotated[
        Path, typer.Option("--run", help="The run directory (`swelego demo --workdir DIR`).")
    ],
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
) -> None:
    """A run's report: report.md and one self-contained report.html.

    Writes RUN/report.md (figures in RUN/report-figures/) and RUN/report.html (one page,
    figures embedded): funnels per stage, task provenance, curriculum buckets, loss
    curves, masked fraction per rule, labels, TTS@K, timings. A stage that did not run
    shows "not run".

    Example:

      swelego report --run runs/demo
    """
    from swelego_ray.report import write_report

    if not run.is_dir():
        typer.secho(f"error: --run {run}: no such directory", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    paths = write_report(run, title=title)
    typer.echo(f"report: {paths.markdown}\n        {paths.html}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
