"""What happens to one task inside one sandbox: environment, start state, test runs.

Shared by validation and evaluation (and rollouts, for the start state). A synthetic task
starts from its environment's clean snapshot with the injected bug applied (the bug diff
is `task.bug_patch`), then loses its git history; a real task starts at its
base commit with history after it removed. Steps that fail for reasons outside the patch
under test raise `HarnessFailure` carrying an `InfraFailure` label.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from swelego_ray.envs import Environment, environment_for, get_backend, resolve_source
from swelego_ray.evidence import (
    SETUP_FAILED,
    deadline_marker,
    new_run_id,
    plugin_files,
    run_script,
    start_marker,
    uses_signed_records,
)
from swelego_ray.grading import InfraFailure, TestRun, new_nonce
from swelego_ray.patching import (
    ApplyResult,
    PatchStep,
    apply_patch,
    apply_then_run,
    build_test_command,
    files_of_test_ids,
    patch_test_files,
)
from swelego_ray.sandbox import SAFE_GIT, Limits, Sandbox, SandboxBackend, StartState
from swelego_ray.sanitise import sanitise
from swelego_ray.schema import Provenance, Task
from swelego_ray.storage import result_key

SOURCE_KEY = "repo_source"  # optional task.meta key: where the repository comes from
# (not "source": derived datasets use that column for their own origin, e.g. "swe-bench-lite")


class HarnessFailure(RuntimeError):
    """A step outside the patch under test failed (labelled, never a test outcome)."""

    def __init__(self, failure: InfraFailure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure, self.detail = failure, detail


def backend_for(name: str, options: dict[str, Any]) -> SandboxBackend:
    """The backend `name` with `options`, constructed once per worker process (it caches
    built environments, and constructing one probes the host)."""
    return _backend(name, json.dumps(options, sort_keys=True, default=str))


@lru_cache(maxsize=8)
def _backend(name: str, options_json: str) -> SandboxBackend:
    return get_backend(name, **json.loads(options_json))


def is_synthetic(task: Task) -> bool:
    return task.provenance is not Provenance.REAL


def task_environment(
    task: Task, repos_dir: str | Path | None, cache_root: Path | None = None
) -> Environment:
    """The environment a task runs in, at its base commit. Raises EnvBuildError (a
    RepoSourceError when the repository cannot be found) naming the task."""
    source = resolve_source(task.repo, repos_dir, task.meta.get(SOURCE_KEY))
    at_base = task.model_copy(update={"environment_setup_commit": ""})
    return environment_for(at_base, source, cache_root, files_commit=task.environment_setup_commit)


def task_test_files(task: Task) -> list[str]:
    """Test files to run: those the test patch touches (SWE-bench's rule), plus any file a
    graded pytest id names, so every test that is graded also runs (task sets whose
    PASS_TO_PASS came from the whole suite stay gradable)."""
    files = patch_test_files(task.test_patch)
    files += files_of_test_ids(task.FAIL_TO_PASS + task.PASS_TO_PASS)
    return list(dict.fromkeys(files))


def task_test_command(task: Task, test_cmd: str) -> str:
    return build_test_command(test_cmd, task_test_files(task))


PATCHING_BUDGET_S = 120.0  # added to the test deadline when patches go first


def patch_and_test(
    sandbox: Sandbox,
    steps: list[PatchStep],
    command: str,
    *,
    timeout_s: float,
    prelude: str = "",
    parser: str = "",
) -> tuple[list[ApplyResult], TestRun | None]:
    """Apply `steps`, run `prelude` (shell, e.g. saving a diff), then the test `command`
    between markers made from a fresh secret, all in one sandbox command (each costs tens
    of ms). The secret reaches the sandbox only on the command's standard input; a pytest
    command graded with a pytest `parser` also gets the evidence plugin (in the run
    directory, unpacked with the patches), whose signed records the run then carries
    (`TestRun.signed`); the sandbox is meant to end after this run. Returns the patch
    results and the test run (None when a patch did not apply). Raises HarnessFailure
    when the run could not be set up."""
    secret, run_id = new_nonce(), new_run_id()
    signed = uses_signed_records(command, parser)
    start = time.monotonic()
    inner_deadline = timeout_s if steps else None  # patching gets a budget on top
    script = run_script(
        command, timeout_s=inner_deadline, signed=signed, run_id=run_id, plugin_in_place=True
    )
    budget = timeout_s + PATCHING_BUDGET_S if steps else timeout_s
    if prelude:
        script = f"{prelude}\n{script}"
    applied, result = apply_then_run(
        sandbox,
        steps,
        script,
        timeout_s=budget,
        secret=secret,
        run_id=run_id,
        files=plugin_files(run_id) if signed else None,  # unpacked with the patches
    )
    if result is None:
        return applied, None
    output, hit = result.output, f"\n{deadline_marker(secret)}\n"
    before_start = output.partition(start_marker(secret))[0]
    if SETUP_FAILED in before_start:
        raise HarnessFailure(InfraFailure.SANDBOX, before_start.strip()[-2000:])
    run = TestRun(
        nonce=secret,
        output=output.replace(hit, "\n"),
        exit_code=result.exit_code,
        timed_out=result.timed_out or hit in output,
        oom=result.oom,
        disk_limit=result.disk_limit,
        truncated=result.truncated,
        duration_s=time.monotonic() - start,
        command=command,
        signed=signed,
    )
    return applied, run


def file_versions(sandbox: Sandbox, paths: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """For each of `paths` (relative to TESTBED): its text at HEAD and in the working tree
    (None where the file does not exist), read in one sandbox command."""
    mark = f"@@swelego-file-{uuid.uuid4().hex}"
    parts = [SAFE_GIT]
    for i, path in enumerate(paths):
        quoted = shlex.quote(path)
        parts.append(
            f'echo "{mark} head {i}"; git cat-file -e HEAD:{quoted} 2>/dev/null '
            f'&& git show HEAD:{quoted} || echo "{mark} none"'
        )
        parts.append(
            f'echo "{mark} work {i}"; if [ -f {quoted} ] && [ ! -L {quoted} ]; then '
            f'cat -- {quoted}; else echo "{mark} none"; fi'
        )
    parts.append(f'echo "{mark} end"')
    result = sandbox.exec(f"bash -c {shlex.quote(chr(10).join(parts))}", timeout_s=120)
    if f"{mark} end" not in result.output:
        raise HarnessFailure(InfraFailure.SANDBOX, f"reading {paths}: {result.output[-2000:]}")
    texts: dict[tuple[str, int], str | None] = {}
    current: tuple[str, int] | None = None
    for chunk in result.output.split(f"{mark} ")[1:]:  # `<what>\n<text>`, text exact
        what, _, text = chunk.partition("\n")
        kind, _, index = what.partition(" ")
        if kind == "none" and current is not None:
            texts[current] = None
        elif kind in ("head", "work"):
            current = (kind, int(index))
            texts[current] = text
    return {p: (texts.get(("head", i)), texts.get(("work", i))) for i, p in enumerate(paths)}


START_STATE_VERSION = "1"  # bump when prepare_start_state changes what it produces


def start_state_key(task: Task) -> str:
    """Everything a task's start state depends on besides its environment."""
    return result_key(
        "start-state",
        "task",
        synthetic=is_synthetic(task),
        base_commit=task.base_commit,
        bug_patch=task.bug_patch,
        version=START_STATE_VERSION,
    )


def start_task_sandbox(
    backend: SandboxBackend, env: Environment, task: Task, limits: Limits, log: list[str]
) -> tuple[Sandbox, str]:
    """A sandbox in the task's start state and its HEAD. The state is prepared (bug
    applied, git sanitised and verified) once per environment and kept by the backend;
    later sandboxes of the task (rollouts, evaluations, reruns) start from the kept copy.
    Appends the preparation log to `log`; raises HarnessFailure when preparing fails."""

    def prepare(sandbox: Sandbox) -> str:
        lines: list[str] = []
        head = prepare_start_state(sandbox, task, lines)
        return json.dumps({"head": head, "log": "\n".join(lines)})

    before = time.monotonic()
    state = StartState(key=start_state_key(task), prepare=prepare)
    sandbox, note = backend.start_prepared(env, state, limits)
    kept = json.loads(note)
    log.append(f"$ start state {state.key[:16]} ({time.monotonic() - before:.2f} s)")
    log.append(kept["log"])
    return sandbox, kept["head"]


def prepare_start_state(sandbox: Sandbox, task: Task, log: list[str]) -> str:
    """Apply a synthetic task's bug, then sanitise git; returns HEAD. Appends to `log`."""
    synthetic = is_synthetic(task)
    if synthetic and task.bug_patch:
        applied = apply_patch(sandbox, task.bug_patch, name="bug_patch")
        log.append(applied.log)
        if not applied.ok:
            raise HarnessFailure(InfraFailure.BUG_APPLY, applied.reason)
    report = sanitise(
        sandbox, base_commit=None if synthetic else task.base_commit, synthetic=synthetic
    )
    log.append(report.log)
    if not report.ok:
        raise HarnessFailure(InfraFailure.SANITISE, "; ".join(report.problems))
    return report.head
