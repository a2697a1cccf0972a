"""Applying patches inside a sandbox, and building the test command a test patch implies.

`apply_patches` applies a sequence of patches in ONE sandbox command (the patches travel on
its stdin as a tar archive that unpacks into a fresh run directory under the sandbox's
private /tmp, `run_dir`): for each, it optionally puts some files back as they are at
HEAD first (`PatchStep.reset`, one git for all of them in the usual case), then tries, in
order, `git apply`, `git apply --3way`,
`git apply --reject` and `patch --fuzz` (SWE-bench's fallbacks), restoring the working tree
between attempts so a half-applied attempt never leaks into the next one, and records
which method worked. It stops at the first patch that does not apply.

Patches never write inside `.git/`: before anything runs, a patch naming a path with a
`.git` component (old or new side, renames and copies, quoted names, any prefix) or
creating a symlink whose target has one is refused on the host (`git apply` refuses such
paths itself, GNU `patch` does not: it would write hooks). Every git in these scripts is
the safe one (`sandbox._git.SAFE_GIT`: no hooks, fsmonitor, external diff, textconv,
pager). A run secret for the test command (`SECRET_VAR`) travels as the first line of the
command's standard input, ahead of the patches, and is never written anywhere.

`apply_then_run` can also unpack other files into the run directory (the evidence plugin),
with the same tar. Applying alone removes the run directory; a test run after the patches
leaves it to the sandbox's end (it holds only the patches, already in the tree the tests
see, and what the caller put there): every process spared counts, tests run once per
sandbox.
"""

from __future__ import annotations

import io
import re
import shlex
import tarfile
import time
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.sandbox import ExecResult, Sandbox, safe_git_script

# The run directory (see `run_dir`): in the sandbox's private /tmp, never part of a diff.
_RUN_DIR_PREFIX = "/tmp/.swelego-run-"
# The script's variable holding the run secret (the first line of its standard input).
SECRET_VAR = "__swelego_secret"


class ApplyMethod(StrEnum):
    GIT_APPLY = "git apply"
    GIT_3WAY = "git apply --3way"
    GIT_REJECT = "git apply --reject"
    PATCH_FUZZ = "patch --fuzz"


_COMMANDS = {
    ApplyMethod.GIT_APPLY: "git apply --verbose --whitespace=nowarn {f}",
    ApplyMethod.GIT_3WAY: "git apply --verbose --whitespace=nowarn --3way {f}",
    ApplyMethod.GIT_REJECT: "git apply --verbose --whitespace=nowarn --reject {f}",
    ApplyMethod.PATCH_FUZZ: "patch --batch --forward --no-backup-if-mismatch --fuzz=5 -p1 -i {f}",
}
_METHODS = list(_COMMANDS)


class PatchStep(BaseModel):
    """One patch of a sequence: `reset` files go back to HEAD first (so a prediction cannot
    pre-empt the test patch by editing the tests it is graded with)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    patch: str
    reset: list[str] = Field(default_factory=list)


class ApplyResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    method: ApplyMethod | None = None  # the method that worked (None: empty patch or failure)
    reason: str = ""  # why every method failed: the last lines of each attempt
    log: str = ""  # every command and its output, for the per-instance apply log


def new_run_id() -> str:
    """Names one sandbox command's run directory (unguessable: nothing can be there first)."""
    return uuid.uuid4().hex


def run_dir(run_id: str) -> str:
    """The run directory of `run_id` inside the sandbox: mode 0700, made by the tar that
    brings the patches (and `apply_then_run`'s other files)."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", run_id):
        raise ValueError(f"run id {run_id!r}: expected 8-64 lowercase hex digits")
    return f"{_RUN_DIR_PREFIX}{run_id}"


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _reset_script(files: list[str]) -> str:
    """Shell that puts `files` back as at HEAD, removing the ones HEAD lacks."""
    quoted = " ".join(shlex.quote(f) for f in files)
    # One git for every file when HEAD has them all (the usual case; a pathspec that
    # matches nothing fails the whole checkout before it writes anything). Otherwise one
    # git per file: checkout first, and only when that fails ask whether HEAD has the file
    # (then the reset failed) or not (remove it). Names are literal, never globs.
    checkout = "git --literal-pathspecs checkout -q HEAD --"
    return (
        f"{checkout} {quoted} 2>/dev/null || {{ __r=0; for f in {quoted}; do "
        f'{checkout} "$f" 2>/dev/null || {{ git cat-file -e "HEAD:$f" 2>/dev/null '
        '&& { __r=1; break; } || rm -rf -- "$f"; }; done; [ "$__r" = 0 ]; }'
    )


def _script(
    steps: list[PatchStep], mark: str, then: str | None, *, secret: bool, rd: str, unpack: bool
) -> str:
    """Bash applying every step's `<rd>/<i>.diff`, then running `then` (stdin empty);
    progress lines start with `mark`. With `secret`, the first line of standard input is
    read into SECRET_VAR first; with `unpack`, the rest is a tar archive making `rd`."""
    arg = '"$1"'
    cases = "\n".join(
        f"    {i}) {cmd.format(f=arg)} ;;" for i, cmd in enumerate(_COMMANDS.values())
    )
    lines = [f"m={shlex.quote(mark)}; d={rd}"]
    if secret:
        lines.append(
            f"IFS= read -r {SECRET_VAR} "
            '|| { echo "$m fatal no run secret on standard input"; exit 3; }'
        )
    if unpack:
        # the archive's first member is the run directory itself (mode 0700)
        lines.append('tar -xf - -C /tmp || { echo "$m fatal cannot unpack the patches"; exit 3; }')
    # the run directory goes when only patching (the sandbox goes on); a test run leaves it
    cleanup = 'rm -rf "$d"; ' if then is None and unpack else ""
    lines += [
        "attempt() {",
        f"  for i in {' '.join(str(i) for i in range(len(_COMMANDS)))}; do",
        # plain `git apply` is atomic: snapshot the tree only once it has failed
        '    if [ "$i" = 1 ]; then git add -A && tree=$(git write-tree) '
        '|| { echo "$m fatal cannot snapshot the working tree"; return 2; }; fi',
        '    echo "$m try $i"',
        "    case $i in",
        cases,
        "    esac 2>&1",
        '    rc=$?; echo "$m rc $rc"',
        '    [ "$rc" = 0 ] && return 0',
        '    if [ "$i" != 0 ]; then git read-tree --reset -u "$tree" && git clean -fdq '
        '|| { echo "$m fatal restoring the tree failed"; return 2; }; fi',
        "  done",
        "  return 1",
        "}",
    ]
    for i, step in enumerate(steps):
        lines.append(f'echo "$m step {i}"')
        if step.reset:
            lines.append(
                f"{{ {_reset_script(step.reset)}; }} "
                '|| { echo "$m fatal resetting test files failed"; exit 3; }'
            )
        if step.patch.strip():
            lines.append(f'attempt "$d/{i}.diff" || {{ {cleanup}exit 1; }}')
    lines += [f"{cleanup}exec </dev/null", 'echo "$m done"']
    if then is not None:
        lines.append(f"{{\n{then}\n}} </dev/null")
    return safe_git_script("\n".join(lines) + "\n")


def _archive(rd: str, steps: list[PatchStep], files: dict[str, str]) -> bytes:
    """A tar (members relative to /tmp) making the run directory `rd` (mode 0700) with
    each step's `<i>.diff` and `files` in it."""
    base = rd.removeprefix("/tmp/")
    members = {f"{i}.diff": _patch_text(step.patch) for i, step in enumerate(steps)}
    for name, text in files.items():
        if "/" in name or name in ("", ".", "..") or name in members:
            raise ValueError(f"run directory file {name!r}: expected a new plain file name")
        members[name] = text
    buf, now = io.BytesIO(), int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        top = tarfile.TarInfo(base)
        top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o700, now
        tar.addfile(top)
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _patch_text(patch: str) -> str:
    if patch.strip() and not patch.endswith("\n"):
        patch += "\n"  # git apply rejects a last hunk line without a newline
    return patch


def apply_patches(
    sandbox: Sandbox, steps: list[PatchStep], *, timeout_s: float = 300.0
) -> list[ApplyResult]:
    """Apply `steps` in order in one sandbox command. Returns one result per step tried:
    every step up to and including the first that failed."""
    return apply_then_run(sandbox, steps, None, timeout_s=timeout_s)[0]


def apply_then_run(
    sandbox: Sandbox,
    steps: list[PatchStep],
    command: str | None,
    *,
    timeout_s: float,
    secret: str | None = None,
    run_id: str | None = None,
    files: dict[str, str] | None = None,
) -> tuple[list[ApplyResult], ExecResult | None]:
    """Apply `steps`, then, if every one applied, run `command` (bash, stdin empty), all in
    one sandbox command under one deadline. Returns the per-step results and what
    `command` did (its output is what followed the patching; None: it did not run).
    `secret` (one line) is in `$__swelego_secret` for `command`, and nowhere else.
    `files` (plain names) are unpacked into `run_dir(run_id)` with the patches, before
    anything else runs; with `command`, that directory is left in place.

    A step whose patch would write inside `.git` is refused before anything runs: the
    steps before it are applied (and `command` is not run)."""
    for at, step in enumerate(steps):
        if unsafe := git_dir_paths(step.patch):
            results = apply_patches(sandbox, steps[:at], timeout_s=timeout_s) if at else []
            if results and not results[-1].ok:
                return results, None
            return [*results, _refused(step, unsafe)], None
    if not steps and command is None:
        return [], None
    if secret is not None and ("\n" in secret or "\r" in secret):
        raise ValueError("the run secret must be one line")
    mark = f"@@swelego-apply-{uuid.uuid4().hex[:12]}"
    rd = run_dir(run_id or new_run_id())
    unpack = bool(steps or files)
    stdin = (secret.encode() + b"\n") if secret is not None else b""
    stdin += _archive(rd, steps, files or {}) if unpack else b""
    script = _script(steps, mark, command, secret=secret is not None, rd=rd, unpack=unpack)
    run = sandbox.exec(f"bash -c {shlex.quote(script)}", timeout_s=timeout_s, stdin=stdin or None)
    done, after = _after_done(run.output, mark)
    patching_output = run.output[: len(run.output) - len(after)] if done else run.output
    results = _parse(steps, patching_output, mark)
    stopped = ""
    if run.timed_out and not done:
        stopped = f"stopped: the deadline ({timeout_s:g} s) hit"
    elif not done and (not results or results[-1].ok):
        stopped = f"stopped unexpectedly (exit {run.exit_code}): {_tail(run.output)}"
    if stopped and steps:
        at = len(results) - 1 if results and (run.timed_out or not results[-1].ok) else len(results)
        at = min(at, len(steps) - 1)
        name, log = steps[at].name, results[at].log if at < len(results) else run.output
        failed = ApplyResult(ok=False, reason=f"{name} did not apply: {stopped}", log=log)
        results = [*results[:at], failed]
    if not done or command is None:
        return results, None
    return results, run.model_copy(update={"output": after})


def _refused(step: PatchStep, paths: list[str]) -> ApplyResult:
    shown = ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
    reason = f"{step.name} refused: it would write inside .git ({shown})"
    return ApplyResult(ok=False, reason=reason, log=f"[{step.name}] {reason}\n")


def _after_done(output: str, mark: str) -> tuple[bool, str]:
    """Whether the script got past patching, and what it printed after that."""
    line = f"{mark} done\n"
    at = output.find(line)
    return (True, output[at + len(line) :]) if at >= 0 else (False, "")


class _StepLog:
    """What the script printed for one step."""

    def __init__(self, step: PatchStep) -> None:
        self.step, self.log, self.failures = step, [], []
        self.trying: ApplyMethod | None = None
        self.worked: ApplyMethod | None = None
        self.chunk: list[str] = []

    def begin(self, method: ApplyMethod) -> None:
        self.trying, self.chunk = method, []

    def end(self, code: int) -> None:
        if self.trying is None:
            return
        text, name = "".join(self.chunk), self.step.name
        command = _COMMANDS[self.trying].format(f=f"{name}.diff")
        self.log.append(f"[{name}] $ {command}\n{text}exit code {code}\n")
        if code == 0:
            self.worked = self.trying
        else:
            self.failures.append(f"{self.trying}: {_tail(text, 2) or f'exit {code}'}")
        self.trying, self.chunk = None, []

    def fatal(self, what: str) -> None:
        self.failures.append(what)
        self.log.append(f"[{self.step.name}] {what}\n{''.join(self.chunk)}")

    def finish(self) -> ApplyResult:
        name = self.step.name
        if self.worked is not None:
            return ApplyResult(ok=True, method=self.worked, log="".join(self.log))
        if not self.failures and not self.step.patch.strip():
            return ApplyResult(ok=True, log=f"[{name}] empty patch: nothing to apply\n")
        why = "; ".join(self.failures) or "no attempt finished"
        return ApplyResult(ok=False, reason=f"{name} did not apply: {why}", log="".join(self.log))


def _parse(steps: list[PatchStep], output: str, mark: str) -> list[ApplyResult]:
    """Results per step from the script's marked output."""
    results: list[ApplyResult] = []
    current: _StepLog | None = None
    for line in output.splitlines(keepends=True):
        if not line.startswith(mark + " "):
            if current is not None:
                current.chunk.append(line)
            continue
        word, _, arg = line[len(mark) + 1 :].strip().partition(" ")
        if word in ("step", "done"):
            if current is not None:
                results.append(current.finish())
            current = _StepLog(steps[int(arg)]) if word == "step" else None
        elif current is None:
            continue
        elif word == "try":
            current.begin(_METHODS[int(arg)])
        elif word == "rc":
            current.end(int(arg))
        elif word == "fatal":
            current.fatal(arg)
            break
    if current is not None:
        results.append(current.finish())
    return results


def apply_patch(
    sandbox: Sandbox, patch: str, *, name: str = "patch", timeout_s: float = 120.0
) -> ApplyResult:
    """Apply one `patch` (a unified diff, paths a/ b/) to the repository in `sandbox`."""
    return apply_patches(sandbox, [PatchStep(name=name, patch=patch)], timeout_s=timeout_s)[0]


_PLUS_RE = re.compile(r"^\+\+\+ (?:b/)?(.+?)(?:\t.*)?$")
_RENAME_RE = re.compile(r"^rename to (.+)$")
_DIFF_RE = re.compile(r"^diff --git a/(\S+) b/(\S+)$")


def files_in_patch(patch: str) -> list[str]:
    """Paths a patch leaves in place (added or modified; deleted files excluded), in order."""
    files: list[str] = []
    pending: str | None = None  # `diff --git` header whose file has no +++ line (yet)
    for line in patch.splitlines():
        if m := _DIFF_RE.match(line):
            if pending:
                files.append(pending)
            pending = m.group(2)
        elif line.startswith("+++ "):
            pending = None
            if line.strip() != "+++ /dev/null" and (m := _PLUS_RE.match(line)):
                files.append(m.group(1))
        elif line.startswith("deleted file mode"):
            pending = None
        elif m := _RENAME_RE.match(line):
            pending = m.group(1)
    if pending:
        files.append(pending)
    return list(dict.fromkeys(files))


def patch_test_files(test_patch: str, suffixes: tuple[str, ...] = (".py",)) -> list[str]:
    """The test source files a test patch touches (data files and deletions left out)."""
    return [f for f in files_in_patch(test_patch) if f.endswith(suffixes)]


def files_of_test_ids(test_ids: list[str]) -> list[str]:
    """Files named by pytest-style ids (`path/test_x.py::Class::test`), in order."""
    files = [t.split("::", 1)[0] for t in test_ids if "::" in t]
    return list(dict.fromkeys(f for f in files if f.endswith(".py")))


def build_test_command(test_cmd: str, files: list[str]) -> str:
    """The spec's test command with `files` appended (quoted); the whole suite if none.

    Django's runtests.py takes test modules, not paths: `tests/a/test_b.py` -> `a.test_b`
    (the runner, not the repository, decides the form)."""
    if "runtests.py" in test_cmd:
        files = [_django_module(f) for f in files]
    return " ".join([test_cmd, *(shlex.quote(f) for f in files)])


def _django_module(path: str) -> str:
    path = path.removesuffix(".py").removeprefix("tests/")
    return path.replace("/", ".")


# -- what a patch touches ---------------------------------------------------------------
# Lines that can name a path for `git apply` or GNU patch (unified, context, git headers).
_HEADER_PREFIXES = (
    "diff ",
    "--- ",
    "+++ ",
    "*** ",
    "Index: ",
    "rename from ",
    "rename to ",
    "copy from ",
    "copy to ",
    "rename old ",
    "rename new ",
)
_SYMLINK_MODE_RE = re.compile(r"^(?:new file mode|new mode|index [0-9a-f]+\.\.[0-9a-f]+) 120000$")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unquote(text: str) -> str:
    """Decode C-style quoted names (`"a/\\056git/x"`) the way git and GNU patch do."""

    def one(match: re.Match[str]) -> str:
        body, out, i = match.group(1), bytearray(), 0
        while i < len(body):
            char = body[i]
            if char == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                if re.match(r"[0-7]{3}", body[i + 1 : i + 4]):
                    out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
                    i += 4
                    continue
                out += _ESCAPES.get(nxt, nxt).encode()
                i += 2
                continue
            out += char.encode()
            i += 1
        return out.decode(errors="replace")

    return re.sub(r'"((?:[^"\\]|\\.)*)"', one, text)


def _has_git_component(text: str) -> bool:
    """Whether any `/`- or whitespace-separated part of `text` is `.git` (any case,
    trailing dots or spaces ignored, as some filesystems would)."""
    parts = re.split(r"[/\\\s]+", _unquote(text))
    return any(part.rstrip(". ").lower() == ".git" for part in parts)


def git_dir_paths(patch: str) -> list[str]:
    """The header lines (and symlink targets) of `patch` that reach into a `.git`
    directory; empty when the patch stays in the working tree. Conservative: every line
    that could name a path is checked, wherever it is."""
    unsafe: list[str] = []
    symlink = False
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            symlink = False
        if line.startswith(_HEADER_PREFIXES) and _has_git_component(line.split(" ", 1)[1]):
            unsafe.append(line.strip()[:200])
        elif _SYMLINK_MODE_RE.match(line.strip()):
            symlink = True
        elif symlink and line.startswith("+") and _has_git_component(line[1:]):
            unsafe.append(f"symlink to {line[1:].strip()[:200]}")
    return list(dict.fromkeys(unsafe))


class FileChange(BaseModel):
    """One file a patch touches: its path before (None: created) and after (None:
    deleted); a rename or copy has both."""

    model_config = ConfigDict(extra="forbid")

    old: str | None
    new: str | None

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(p for p in (self.old, self.new) if p))


def _strip_prefix(raw: str) -> str | None:
    """A header path as `patch -p1` sees it (None for /dev/null)."""
    path = _unquote(raw.split("\t", 1)[0].rstrip())
    if path == "/dev/null":
        return None
    return path.split("/", 1)[1] if "/" in path else path


def _git_line_paths(rest: str) -> tuple[str | None, str | None]:
    """(old, new) from the text after `diff --git ` (names with spaces, quoted names)."""
    if m := re.match(r'^("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$', rest):
        return _strip_prefix(m.group(1)), _strip_prefix(m.group(2))
    half = (len(rest) - 1) // 2  # `a/<p> b/<p>` with spaces in <p>
    left, right = rest[:half], rest[half + 1 :]
    if rest[half : half + 1] == " " and left[2:] == right[2:]:
        return _strip_prefix(left), _strip_prefix(right)
    return None, None


_HUNK_RE = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def _hunk_end(lines: list[str], at: int) -> int:
    """The index after the unified hunk whose header is lines[at] (its counted body)."""
    m = _HUNK_RE.match(lines[at])
    assert m is not None
    old = int(m.group(1)) if m.group(1) is not None else 1
    new = int(m.group(2)) if m.group(2) is not None else 1
    i = at + 1
    while i < len(lines) and (old > 0 or new > 0 or lines[i].startswith("\\")):
        kind = lines[i][:1]
        if kind == "\\":
            pass
        elif kind == "-":
            old -= 1
        elif kind == "+":
            new -= 1
        elif kind in (" ", ""):
            old, new = old - 1, new - 1
        else:
            break
        i += 1
    return i


_CONTEXT_RANGE_RE = re.compile(r"^(?:\*\*\* \d+(?:,\d+)? \*\*\*\*|--- \d+(?:,\d+)? ----)$")


class _Section:
    def __init__(self, old: str | None, new: str | None, kind: str) -> None:
        self.old, self.new, self.kind, self.minus = old, new, kind, False


def file_changes(patch: str) -> list[FileChange]:
    """Every file `patch` creates, changes, deletes, renames or copies, in order: git
    sections, plain unified and context diffs; hunk bodies are skipped by their counts, as
    `git apply` and GNU patch read them. Paths named only by `Index:` lines count as
    changed."""
    lines = patch.splitlines()
    sections: list[_Section] = []
    cur: _Section | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if _HUNK_RE.match(line):
            i = _hunk_end(lines, i)
            continue
        if _CONTEXT_RANGE_RE.match(line):
            pass
        elif line.startswith("diff --git "):
            cur = _Section(*_git_line_paths(line[len("diff --git ") :]), kind="git")
            sections.append(cur)
        elif line.startswith("*** "):
            cur = _Section(_strip_prefix(line[4:]), None, kind="context")
            sections.append(cur)
        elif line.startswith("--- "):
            path = _strip_prefix(line[4:])
            if cur is not None and cur.kind == "context" and not cur.minus:
                cur.new = path
            elif cur is not None and cur.kind == "git" and not cur.minus:
                cur.old = path
            else:
                cur = _Section(path, None, kind="unified")
                sections.append(cur)
            cur.minus = True
        elif line.startswith("+++ ") and cur is not None:
            cur.new = _strip_prefix(line[4:])
        elif line.startswith(("rename from ", "copy from ")) and cur is not None:
            cur.old = _unquote(line.split(" ", 2)[2])
        elif line.startswith(("rename to ", "copy to ")) and cur is not None:
            cur.new = _unquote(line.split(" ", 2)[2])
        elif line.startswith("new file mode") and cur is not None:
            cur.old = None
        elif line.startswith("deleted file mode") and cur is not None:
            cur.new = None
        elif line.startswith("Index: "):
            name = _unquote(line[len("Index: ") :].strip())
            sections.append(_Section(name, name, kind="index"))
        i += 1
    changes = [FileChange(old=s.old, new=s.new) for s in sections if s.old or s.new]
    return list({(c.old, c.new): c for c in changes}.values())
