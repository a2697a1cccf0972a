"""`write_report(run_dir)`: read a demo run's directory, write report.md and report.html."""

from __future__ import annotations

from pathlib import Path

from swelego_ray.report.collect import collect
from swelego_ray.report.records import ReportPaths
from swelego_ray.report.render import html_page, markdown
from swelego_ray.report.sections import build_sections

FIGURES_DIR = "report-figures"


def write_report(run_dir: Path, *, title: str | None = None) -> ReportPaths:
    """Write `run_dir`/report.md (+ its PNG figures in report-figures/) and
    `run_dir`/report.html (one self-contained page). Missing stages say "not run"."""
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    data = collect(run_dir)
    sections = build_sections(data)
    title = title or f"swelego run report: {run_dir.name}"
    md = run_dir / "report.md"
    md.write_text(
        markdown(sections, title=title, problems=data.problems, figures_dir=run_dir / FIGURES_DIR)
    )
    page = run_dir / "report.html"
    page.write_text(html_page(sections, title=title, problems=data.problems))
    return ReportPaths(markdown=md, html=page)
