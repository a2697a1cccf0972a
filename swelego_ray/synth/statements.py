"""Problem statements: who writes them (a registry of writers) and the leakage check.

A writer gets the validated task and what its failing tests printed, and returns the
statement. The built-in `template` writer needs no model. A model-backed writer is a
plug-in: `_PLUGINS` names its module (`swelego_ray.synth.statements_llm` for `llm`),
which calls `register_statement_writer(name, factory)` at import; `factory(cfg)` returns
the writer. Whatever writes it, a statement that quotes a line the gold patch adds is
rejected (`leaked_lines`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from swelego_ray.schema import Task
from swelego_ray.synth.diffs import added_lines

if TYPE_CHECKING:
    from swelego_ray.synth.config import SynthConfig

MIN_LEAK_CHARS = 8  # shorter added lines (`pass`, `return x`) say little about the fix


@dataclass
class Evidence:
    """What the failing tests showed: their ids and the lines pytest printed about them."""

    failing_tests: list[str]
    failure_lines: list[str] = field(default_factory=list)  # `FAILED id - message` lines
    messages: dict[str, str] = field(default_factory=dict)  # test id -> its error line
    output_tail: str = ""  # the end of one broken run's output
    hint: str = ""  # real tasks: the commit message


class StatementWriter(Protocol):
    """Writes one problem statement; must not reveal the fix."""

    name: str

    def write(self, task: Task, evidence: Evidence) -> str: ...


class TemplateWriter:
    """A statement from the failing tests' names and messages (no model needed)."""

    name = "template"
    max_tests = 8

    def write(self, task: Task, evidence: Evidence) -> str:
        tests = evidence.failing_tests
        shown = tests[: self.max_tests]
        more = len(tests) - len(shown)
        lines = []
        if evidence.hint:
            lines += [evidence.hint.strip().splitlines()[0], ""]
        lines += [
            f"Some behaviour of `{task.repo}` is broken: {len(tests)} test"
            f"{'s' if len(tests) != 1 else ''} of its suite fail"
            f"{'s' if len(tests) == 1 else ''} on the current code.",
            "",
            "Failing tests:",
            *[f"- `{t}`" for t in shown],
        ]
        if more:
            lines.append(f"- ... and {more} more")
        messages = [f"{t}: {evidence.messages[t]}" for t in shown if t in evidence.messages]
        if messages:
            lines += ["", "What they report:", "", "```", *messages, "```"]
        lines += [
            "",
            "Expected: these tests pass, and the rest of the suite keeps passing.",
        ]
        return "\n".join(lines) + "\n"


def failure_lines(output: str) -> list[str]:
    """pytest's short-summary lines for failures and errors."""
    return [line.strip() for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]


_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")
_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (\S+) - (.+)$")


def failure_messages(output: str, tests: list[str], limit: int = 300) -> dict[str, str]:
    """Each of `tests` -> the first error line pytest printed for it: the `E   ...` line
    of its failure section (headed `Class.test[param]`), else its short-summary message;
    cut at `limit` characters. Tests without one are left out."""
    sections: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        if match := _SECTION.match(line):
            current = match.group(1)
        elif current and line.startswith("E ") and current not in sections:
            sections[current] = line[1:].strip()
    summary = {m.group(1): m.group(2) for m in map(_SUMMARY.match, output.splitlines()) if m}
    found = {}
    for test in tests:
        short = test.split("::", 1)[-1].replace("::", ".")
        message = sections.get(short) or summary.get(test)
        if message:
            found[test] = message[:limit]
    return found


def leaked_lines(statement: str, gold_patch: str) -> list[str]:
    """Lines the gold patch adds that the statement quotes (whitespace-insensitive);
    lines shorter than MIN_LEAK_CHARS are not counted."""
    flat = " ".join(statement.split())
    leaks = []
    for line in added_lines(gold_patch):
        text = " ".join(line.split())
        if len(text) >= MIN_LEAK_CHARS and text in flat:
            leaks.append(text)
    return leaks


WriterFactory = Callable[["SynthConfig"], StatementWriter]
_WRITERS: dict[str, WriterFactory] = {"template": lambda cfg: TemplateWriter()}
_PLUGINS: dict[str, str] = {"llm": "swelego_ray.synth.statements_llm"}


def register_statement_writer(name: str, factory: WriterFactory) -> None:
    """Make writer `name` available to `statement_writer=` (a plug-in module calls this)."""
    _WRITERS[name] = factory


def known_writers() -> list[str]:
    return sorted({*_WRITERS, *_PLUGINS})


def statement_writer(name: str, cfg: SynthConfig) -> StatementWriter:
    """Writer `name` for this run, importing its plug-in module when needed; ValueError
    naming it when unknown or not importable."""
    if name not in _WRITERS and name in _PLUGINS:
        try:
            importlib.import_module(_PLUGINS[name])
        except ImportError as exc:
            raise ValueError(
                f"statement writer {name!r} needs {_PLUGINS[name]}, which cannot be imported: {exc}"
            ) from None
    try:
        return _WRITERS[name](cfg)
    except KeyError:
        raise ValueError(
            f"unknown statement writer {name!r}; known: {', '.join(known_writers())}"
        ) from None
