"""Unified diffs in git's format, made in Python (no git needed for a rewritten file)."""

from __future__ import annotations

import difflib
import hashlib

_NO_NEWLINE = "\\ No newline at end of file\n"


def file_diff(path: str, old: str, new: str, *, context: int = 3) -> str:
    """A `git apply`-able diff turning `old` into `new` at `path` ("" when equal)."""
    if old == new:
        return ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
        n=context,
    )
    body = []
    for line in lines:
        if line.endswith("\n"):
            body.append(line)
        else:  # the last line of a file without a final newline
            body.append(line + "\n" + _NO_NEWLINE)
    return f"diff --git a/{path} b/{path}\n" + "".join(body)


def diff_hash(diff: str) -> str:
    """Content hash of a diff (de-duplication and instance ids)."""
    return hashlib.sha256(diff.encode()).hexdigest()[:12]


def added_lines(diff: str) -> list[str]:
    """The text of the lines a diff adds (without the leading '+')."""
    return [
        line[1:]
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]


def changed_line_count(diff: str) -> int:
    """Lines added plus lines removed."""
    return sum(
        1
        for line in diff.splitlines()
        if line[:1] in ("+", "-") and not line.startswith(("+++", "---"))
    )
