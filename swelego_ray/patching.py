"""Applying patches inside a sandbox, and building the test command a test patch implies.

`apply_patches` applies a sequence of patches in ONE sandbox command (the patches travel on
its stdin as a tar archive): for each, it optionally puts some files back as they are at
HEAD first (`PatchStep.reset`), then tries, in order, `git apply`, `git apply --3way`,
`git apply --reject` and `patch --fuzz` (SWE-bench's fallbacks), restoring the working tree
between attempts so a half-applied attempt never leaks into the next one, and records
which method worked. It stops at the first patch that does not apply.
"""

from __future__ import annotations

import io
import re
import shlex
import tarfile
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.sandbox._protocol import ExecResult, Sandbox

# Inside the repository's .git: always part of the workspace, never part of a diff.
_PATCH_DIR = ".git/swelego"


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


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _reset_script(files: list[str]) -> str:
    """Shell that puts `files` back as at HEAD, removing the ones HEAD lacks."""
    quoted = " ".join(shlex.quote(f) for f in files)
    return (
        f"for f in {quoted}; do "
        'if git cat-file -e "HEAD:$f" 2>/dev/null; then git checkout -q HEAD -- "$f"; '
        'else rm -rf -- "$f"; fi; done'
    )


def _script(steps: list[PatchStep], mark: str, then: str | None) -> str:
    """Bash applying every step's `<dir>/<i>.diff`, then running `then` (stdin empty);
    progress lines start with `mark`."""
    arg = '"$1"'
    cases = "\n".join(
        f"    {i}) {cmd.format(f=arg)} ;;" for i, cmd in enumerate(_COMMANDS.values())
    )
    lines = [f"m={shlex.quote(mark)}; d={_PATCH_DIR}"]
    if steps:
        lines.append(
            'rm -rf "$d" && mkdir -p "$d" && tar -xf - -C "$d" '
            '|| { echo "$m fatal cannot unpack the patches"; exit 3; }'
        )
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
            lines.append(f'attempt "$d/{i}.diff" || {{ rm -rf "$d"; exit 1; }}')
    lines += ['rm -rf "$d"' if steps else ":", 'echo "$m done"']
    if then is not None:
        lines.append(f"{{\n{then}\n}} </dev/null")
    return "\n".join(lines) + "\n"


def _archive(steps: list[PatchStep]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i, step in enumerate(steps):
            patch = step.patch
            if patch.strip() and not patch.endswith("\n"):
                patch += "\n"  # git apply rejects a last hunk line without a newline
            data = patch.encode()
            info = tarfile.TarInfo(f"{i}.diff")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def apply_patches(
    sandbox: Sandbox, steps: list[PatchStep], *, timeout_s: float = 300.0
) -> list[ApplyResult]:
    """Apply `steps` in order in one sandbox command. Returns one result per step tried:
    every step up to and including the first that failed."""
    return apply_then_run(sandbox, steps, None, timeout_s=timeout_s)[0]


def apply_then_run(
    sandbox: Sandbox, steps: list[PatchStep], command: str | None, *, timeout_s: float
) -> tuple[list[ApplyResult], ExecResult | None]:
    """Apply `steps`, then, if every one applied, run `command` (bash, stdin empty), all in
    one sandbox command under one deadline. Returns the per-step results and what
    `command` did (its output is what followed the patching; None: it did not run)."""
    if not steps and command is None:
        return [], None
    mark = f"@@swelego-apply-{uuid.uuid4().hex[:12]}"
    run = sandbox.exec(
        f"bash -c {shlex.quote(_script(steps, mark, command))}",
        timeout_s=timeout_s,
        stdin=_archive(steps) if steps else None,
    )
    results = _parse(steps, run.output, mark)
    done, after = _after_done(run.output, mark)
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
