"""Sections -> report.md (figures as PNG files beside it) and report.html (one
self-contained page: figures embedded as base64 PNG, no external resource)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from swelego_ray.report.sections import Section

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
h1 { border-bottom: 2px solid #ddd; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; display: block; margin: 0.6rem 0; }
.notrun { color: #888; font-style: italic; }
.problems { color: #a33; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; }
"""


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(sections: list[Section], *, title: str, problems: list[str], figures_dir: Path) -> str:
    """The Markdown report; each figure is written to `figures_dir`/<slug>.png."""
    lines = [f"# {title}", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for t in s.text:
            lines += ([f"```\n{t}\n```"] if "\n" in t else [t]) + [""]
        if s.rows:
            lines.append("| " + " | ".join(s.header) + " |")
            lines.append("|" + "---|" * len(s.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in s.rows]
            lines.append("")
        if s.figure:
            figures_dir.mkdir(parents=True, exist_ok=True)
            (figures_dir / f"{s.slug}.png").write_bytes(s.figure)
            lines += [f"![{s.figure_alt}]({figures_dir.name}/{s.slug}.png)", ""]
    if problems:
        lines += ["## Inputs that could not be read", ""] + [f"- {p}" for p in problems] + [""]
    return "\n".join(lines)


def html_page(sections: list[Section], *, title: str, problems: list[str]) -> str:
    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>"]
    body.append(
        "<nav>" + " · ".join(f'<a href="#{s.slug}">{esc(s.title)}</a>' for s in sections) + "</nav>"
    )
    for s in sections:
        body.append(f'<h2 id="{s.slug}">{esc(s.title)}</h2>')
        for t in s.text:
            cls = ' class="notrun"' if t.startswith("not run") else ""
            body.append(f"<pre>{esc(t)}</pre>" if "\n" in t else f"<p{cls}>{esc(t)}</p>")
        if s.rows:
            head = "".join(f"<th>{esc(h)}</th>" for h in s.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in s.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        if s.figure:
            data = base64.b64encode(s.figure).decode()
            body.append(f'<img alt="{esc(s.figure_alt)}" src="data:image/png;base64,{data}">')
    if problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in problems)
        body.append(f'<h2>Inputs that could not be read</h2><ul class="problems">{items}</ul>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
