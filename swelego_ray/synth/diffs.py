"""Unified diffs in git's format, made in Python (no git needed for a rewritten file)."""

from __future__ import annotations

import codecs
import difflib
import hashlib
from dataclasses import dataclass

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


@dataclass(frozen=True)
class FileDiff:
    """One file's section of a multi-file git diff."""

    path: str  # the path after the change (before it, for a deleted file)
    old_path: str  # the path before the change (after it, for a new file)
    text: str  # the section, from its `diff --git` line, ending with a newline

    @property
    def binary(self) -> bool:
        return any(
            line.startswith(("Binary files ", "GIT binary patch"))
            for line in self.text.splitlines()
        )


def _unquote(name: str) -> str:
    """A path as git prints it: C-quoted when it holds special characters."""
    name = name.rstrip("\t")
    if name.startswith('"') and name.endswith('"'):
        raw = name[1:-1].encode("latin-1", "backslashreplace")
        return codecs.escape_decode(raw)[0].decode("utf-8", "replace")
    return name


_OLD = ("--- ", "rename from ", "copy from ")
_NEW = ("+++ ", "rename to ", "copy to ")


def _header_path(line: str, prefixes: tuple[str, ...]) -> str | None:
    """The path a ---/+++ (a/ or b/ dropped), rename or copy line names; None for any
    other line."""
    for prefix in prefixes:
        if line.startswith(prefix):
            name = _unquote(line[len(prefix) :].rstrip("\n"))
            ab = prefix in ("--- ", "+++ ") and name != "/dev/null"
            return name[2:] if ab else name
    return None


def _paths(section: list[str]) -> tuple[str, str]:
    """(old, new) paths of one section, from its ---/+++ or rename lines, else its
    header (`diff --git a/X b/X`: a mode change, a binary file)."""
    old = new = ""
    for line in section[1:]:
        if line.startswith("@@"):
            break
        old = _header_path(line, _OLD) or old
        new = _header_path(line, _NEW) or new
    if not old and not new:
        rest = section[0].removeprefix("diff --git ").rstrip("\n")
        half = (len(rest) - 1) // 2  # `a/X b/X`: both halves the same length
        old = new = _unquote(rest[half + 1 :])[2:] if rest[half] == " " else rest
    old = old if old != "/dev/null" else new
    new = new if new != "/dev/null" else old
    return old, new


def split_diff(diff: str) -> list[FileDiff]:
    """A git diff -> one FileDiff per file, in order. ValueError when there is text
    before the first `diff --git` line other than blank lines (not a git diff)."""
    sections: list[list[str]] = []
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git "):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        elif line.strip():
            raise ValueError(f"not a git diff: it starts with {line[:80]!r}")
    out = []
    for section in sections:
        old, new = _paths(section)
        text = "".join(section)
        out.append(
            FileDiff(path=new, old_path=old, text=text if text.endswith("\n") else text + "\n")
        )
    return out
