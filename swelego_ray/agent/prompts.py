"""The episode's system prompt and issue instruction, rendered from template files
(`templates/`, StrictUndefined: a missing variable is an error, not an empty string)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("swelego_ray.agent", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render_system(call_form: str, tools: Sequence[dict[str, Any]]) -> str:
    """The system prompt; with `call_form="text"` it describes the tools and the
    `<function=...>` syntax (native calls get the tools through the API instead)."""
    template = _environment().get_template("system.jinja")
    return template.render(call_form=call_form, tools=list(tools)).strip() + "\n"


def render_instance(problem_statement: str, workdir: str = "/testbed") -> str:
    """The first user message: the issue and what to do with it."""
    template = _environment().get_template("instance.jinja")
    return template.render(problem_statement=problem_statement, workdir=workdir).strip() + "\n"
