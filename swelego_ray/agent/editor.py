"""`str_replace_editor` (OpenHands semantics), run inside the sandbox.

Every file is read and written by the session's auxiliary shell (ShellSession.aux,
put_file): paths resolve in the sandbox's own filesystem view, never on the host, so a
symlink in the repository cannot point the editor at a host file. A path must be
absolute and resolve (symlinks followed, `realpath -m`) under /testbed or /tmp; anything
else is an `ERROR:` observation. (The sandbox itself is the boundary: outside /testbed and
/tmp its root is read-only and holds no host secret, so a symlink swapped in between the
check and the write still cannot reach the host.)

Commands: view (a file with line numbers, optionally a line range; a directory two
levels deep, hidden entries left out), create (a new file only), str_replace (old_str
must occur exactly once), insert (after line insert_line, 0 = at the top), undo_edit
(the file's last edit by this editor, per-file history). Failures start with `ERROR:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swelego_ray.agent.calls import ToolCall
from swelego_ray.agent.observations import truncate_middle
from swelego_ray.sandbox import ShellSession
from swelego_ray.schema.tools_schema import STR_REPLACE_EDITOR

ALLOWED_ROOTS = ("/testbed", "/tmp")
SNIPPET_LINES = 4
_RESOLVE = r"""
p=$(realpath -m -- "$1") || exit 3
ok=no
for root in "${@:2}"; do case $p in "$root"|"$root"/*) ok=yes;; esac; done
if [ -d "$p" ]; then kind=dir; elif [ -f "$p" ]; then kind=file
elif [ -e "$p" ] || [ -L "$p" ]; then kind=other; else kind=none; fi
size=0; [ "$kind" = file ] && size=$(stat -c %s -- "$p")
printf '%s %s %s\n%s' "$ok" "$kind" "$size" "$p"
"""
_LIST = r"""find "$1" -maxdepth 2 -not -path '*/.*' 2>/dev/null | sort | head -n "$2" """


class EditorError(Exception):
    """A failed editor command; its message (after `ERROR: `) is the observation."""


@dataclass
class _Target:
    path: str  # as the agent wrote it
    real: str  # resolved in the sandbox
    kind: str  # file, dir, other, none
    size: int


@dataclass
class EditorTool:
    """str_replace_editor on the sandbox of `session`."""

    session: ShellSession
    max_file_bytes: int = 1 << 20
    max_chars: int = 30_000
    name: str = STR_REPLACE_EDITOR
    history: dict[str, list[str]] = field(default_factory=dict)  # real path -> old contents

    def run(self, call: ToolCall) -> str:
        args = call.arguments
        try:
            command = args.get("command")
            target = self._resolve(str(args.get("path", "")))
            handler = {
                "view": self._view,
                "create": self._create,
                "str_replace": self._str_replace,
                "insert": self._insert,
                "undo_edit": self._undo,
            }.get(str(command))
            if handler is None:
                raise EditorError(f"Unrecognized command {command!r}.")
            return truncate_middle(handler(target, args), self.max_chars)
        except EditorError as exc:
            return f"ERROR: {exc}"

    # -- paths and files ----------------------------------------------------------------
    def _resolve(self, path: str) -> _Target:
        if not path.startswith("/"):
            raise EditorError(
                f"Invalid `path` parameter: {path}. The path should be an absolute path, "
                f"starting with `/`. Maybe you meant /testbed/{path.lstrip('./')}?"
            )
        result = self.session.aux(_RESOLVE, [path, *ALLOWED_ROOTS], timeout_s=20)
        head, _, real = result.output.partition("\n")
        fields = head.split()
        if result.exit_code != 0 or len(fields) != 3:
            raise EditorError(f"Cannot resolve `path` {path}: {result.output.strip()[:300]}")
        ok, kind, size = fields
        if ok != "yes":
            roots = " or ".join(ALLOWED_ROOTS)
            raise EditorError(
                f"Invalid `path` parameter: {path}. It resolves to {real}, outside {roots}."
            )
        return _Target(path, real, kind, int(size))

    def _read(self, target: _Target) -> str:
        if target.kind != "file":
            raise EditorError(
                f"Invalid `path` parameter: {target.path}. The path {target.path} does not "
                "exist or is not a regular file. Please provide a valid path."
            )
        if target.size > self.max_file_bytes:
            raise EditorError(
                f"File {target.path} is too large ({target.size} bytes; at most "
                f"{self.max_file_bytes}). Use execute_bash (sed -n, grep) to read parts of it."
            )
        result = self.session.aux('cat -- "$1"', [target.real], timeout_s=20)
        if result.truncated:
            raise EditorError(
                f"File {target.path} is larger than the sandbox's output limit. Use "
                "execute_bash (sed -n, grep) to read parts of it."
            )
        if result.exit_code != 0:
            raise EditorError(f"Cannot read {target.path}: {result.output.strip()[:300]}")
        if "\x00" in result.output or "\ufffd" in result.output:
            raise EditorError(
                f"{target.path} is not a UTF-8 text file; the editor edits text only."
            )
        return result.output

    def _write(self, target: _Target, content: str) -> None:
        parent = target.real.rsplit("/", 1)[0] or "/"
        made = self.session.aux('mkdir -p -- "$1"', [parent], timeout_s=20)
        if made.exit_code != 0:
            raise EditorError(
                f"Cannot create the directory of {target.path}: {made.output.strip()}"
            )
        result = self.session.put_file(target.real, content)
        if result.exit_code != 0:
            raise EditorError(f"Cannot write {target.path}: {result.output.strip()[:300]}")

    def _save(self, target: _Target, old: str, new: str) -> None:
        self._write(target, new)
        self.history.setdefault(target.real, []).append(old)

    # -- commands ---------------------------------------------------------------------
    def _view(self, target: _Target, args: dict) -> str:
        if target.kind == "dir":
            if args.get("view_range"):
                raise EditorError(
                    "The `view_range` parameter is not allowed when `path` points to a directory."
                )
            listing = self.session.aux(_LIST, [target.real, "2000"], timeout_s=30).output
            return (
                f"Here's the files and directories up to 2 levels deep in {target.path}, "
                f"excluding hidden items:\n{listing}"
            )
        content = self._read(target)
        lines = content.removesuffix("\n").split("\n")
        start, end = 1, len(lines)
        view_range = args.get("view_range")
        if view_range:
            start, end = _check_range(view_range, len(lines))
        body = _numbered(lines[start - 1 : end], start)
        return f"Here's the result of running `cat -n` on {target.path}:\n{body}\n"

    def _create(self, target: _Target, args: dict) -> str:
        if target.kind != "none":
            raise EditorError(
                f"Invalid `path` parameter: {target.path}. File already exists at: "
                f"{target.path}. Cannot overwrite files using command `create`."
            )
        if "file_text" not in args:
            raise EditorError("Parameter `file_text` is required for command: create.")
        self._save(target, "", str(args["file_text"]))
        self.history[target.real][-1] = _CREATED
        return f"File created successfully at: {target.path}"

    def _str_replace(self, target: _Target, args: dict) -> str:
        if "old_str" not in args:
            raise EditorError("Parameter `old_str` is required for command: str_replace.")
        old_str, new_str = str(args["old_str"]), str(args.get("new_str") or "")
        content = self._read(target)
        count = content.count(old_str) if old_str else 0
        if count == 0:
            raise EditorError(
                f"No replacement was performed, old_str `{old_str}` did not appear verbatim "
                f"in {target.path}."
            )
        if count > 1:
            lines = _lines_of(content, old_str)
            raise EditorError(
                f"No replacement was performed. Multiple occurrences of old_str `{old_str}` "
                f"in lines {lines}. Please ensure it is unique."
            )
        if new_str == old_str:
            raise EditorError(
                "No replacement was performed. `new_str` and `old_str` must be different."
            )
        at_line = content[: content.index(old_str)].count("\n")
        new_content = content.replace(old_str, new_str, 1)
        self._save(target, content, new_content)
        snippet = _snippet(new_content, at_line, new_str.count("\n"))
        return (
            f"The file {target.path} has been edited. Here's the result of running `cat -n` on "
            f"a snippet of {target.path}:\n{snippet}\nReview the changes and make sure they "
            "are as expected. Edit the file again if necessary."
        )

    def _insert(self, target: _Target, args: dict) -> str:
        if "new_str" not in args or "insert_line" not in args:
            raise EditorError("Parameters `insert_line` and `new_str` are required for insert.")
        content = self._read(target)
        lines = content.split("\n")
        n_lines = len(lines) - 1 if content.endswith("\n") else len(lines)
        line = args["insert_line"]
        if not isinstance(line, int) or isinstance(line, bool) or not 0 <= line <= n_lines:
            raise EditorError(
                f"Invalid `insert_line` parameter: {line}. It should be within the range of "
                f"lines of the file: [0, {n_lines}]"
            )
        new_str = str(args["new_str"])
        new_lines = new_str.split("\n")
        new_content = "\n".join(lines[:line] + new_lines + lines[line:])
        self._save(target, content, new_content)
        snippet = _snippet(new_content, line, len(new_lines) - 1)
        return (
            f"The file {target.path} has been edited. Here's the result of running `cat -n` on "
            f"a snippet of the edited file:\n{snippet}\nReview the changes and make sure they "
            "are as expected (correct indentation, no duplicate lines, etc). Edit the file "
            "again if necessary."
        )

    def _undo(self, target: _Target, _args: dict) -> str:
        edits = self.history.get(target.real)
        if not edits:
            raise EditorError(f"No edit history found for {target.path}.")
        previous = edits.pop()
        if previous is _CREATED:
            result = self.session.aux('rm -f -- "$1"', [target.real], timeout_s=20)
            if result.exit_code != 0:
                raise EditorError(f"Cannot remove {target.path}: {result.output.strip()}")
            return f"Last edit to {target.path} undone successfully: the file was removed."
        self._write(target, previous)
        body = _numbered(previous.split("\n"), 1)
        return (
            f"Last edit to {target.path} undone successfully. Here's the result of running "
            f"`cat -n` on {target.path}:\n{body}\n"
        )


_CREATED = "\x00created"  # history entry of a file the editor created (undo removes it)


def _numbered(lines: list[str], first: int) -> str:
    return "\n".join(f"{n:6}\t{line}" for n, line in enumerate(lines, first))


def _snippet(content: str, at_line: int, extra_lines: int) -> str:
    lines = content.split("\n")
    start = max(0, at_line - SNIPPET_LINES)
    end = min(len(lines), at_line + extra_lines + SNIPPET_LINES + 1)
    return _numbered(lines[start:end], start + 1)


def _lines_of(content: str, needle: str) -> list[int]:
    found, at = [], content.find(needle)
    while at >= 0:
        found.append(content[:at].count("\n") + 1)
        at = content.find(needle, at + 1)
    return found


def _check_range(view_range: object, n_lines: int) -> tuple[int, int]:
    if (
        not isinstance(view_range, list)
        or len(view_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in view_range)
    ):
        raise EditorError("Invalid `view_range` parameter: it should be a list of two integers.")
    start, end = view_range
    if not 1 <= start <= n_lines:
        raise EditorError(
            f"Invalid `view_range` parameter: {view_range}. Its first element `{start}` "
            f"should be within the range of lines of the file: [1, {n_lines}]."
        )
    if end == -1:
        return start, n_lines
    if not start <= end <= n_lines:
        raise EditorError(
            f"Invalid `view_range` parameter: {view_range}. Its second element `{end}` should "
            f"be -1 or within [{start}, {n_lines}]."
        )
    return start, end
