"""Evaluating one instance in one sandbox (runs inside a Ray task).

Runner-control files the prediction touches (conftest.py, pytest settings, sitecustomize,
.pth files, ...: `swelego_ray.evidence.runner_control`) are put back as at HEAD before the
test patch, by the same reset that protects the test patch's files, and the instance is
reported as tampering (`GradeReport.tampered_files`). Whether a change to tox.ini,
setup.cfg or pyproject.toml touches their pytest settings is decided after the prediction
is applied (one more sandbox command, only for predictions that touch those files).
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.engine import ItemContext, ItemOutput
from swelego_ray.envs import EnvBuildError, Environment
from swelego_ray.evaluate._config import Prediction
from swelego_ray.evaluate._network import network_failures
from swelego_ray.evidence import pytest_settings_differ, runner_control
from swelego_ray.grading import GradeReport, InfraFailure, Outcome, grade, infra_error
from swelego_ray.harness import (
    HarnessFailure,
    backend_for,
    file_versions,
    patch_and_test,
    start_task_sandbox,
    task_test_command,
)
from swelego_ray.patching import (
    ApplyMethod,
    ApplyResult,
    PatchStep,
    apply_patches,
    files_in_patch,
)
from swelego_ray.sandbox import Limits, Sandbox, SandboxError
from swelego_ray.schema import Task
from swelego_ray.storage import result_key
from swelego_ray.testlogs import not_a_test_id

HARNESS_VERSION = "2"  # bump when a change to the harness must invalidate stored results


class EvalItem(BaseModel):
    """One instance to evaluate, with everything the worker needs."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    prediction: Prediction
    env: Environment
    backend: str
    backend_options: dict[str, Any] = Field(default_factory=dict)
    limits: Limits


class InstanceResult(BaseModel):
    """The stored result of one instance."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    model_name_or_path: str = ""
    report: GradeReport
    empty_patch: bool = False
    patch_method: ApplyMethod | None = None
    test_patch_method: ApplyMethod | None = None
    test_command: str = ""
    env_key: str = ""
    duration_s: float = 0.0
    network_failures: list[str] = Field(default_factory=list)
    """Graded tests that failed on a network error (sandboxes have none; _network)."""
    not_tests: list[str] = Field(default_factory=list)
    """Graded names that are log-parser artifacts, not tests (testlogs.not_a_test_id):
    left out of grading (SWE-bench's parser reads them from the log as passing)."""


def not_tests_of(task: Task) -> list[str]:
    """The task's graded names that no test can have (testlogs.not_a_test_id)."""
    return [t for t in [*task.FAIL_TO_PASS, *task.PASS_TO_PASS] if not_a_test_id(t)]


def _graded_task(task: Task, not_tests: list[str]) -> Task:
    """`task` with the names in `not_tests` left out of its graded lists."""
    if not not_tests:
        return task
    drop = set(not_tests)
    return task.model_copy(
        update={
            "FAIL_TO_PASS": [t for t in task.FAIL_TO_PASS if t not in drop],
            "PASS_TO_PASS": [t for t in task.PASS_TO_PASS if t not in drop],
        }
    )


def result_key_of(item: EvalItem) -> str:
    """Every input that changes the result, patch content included."""
    task = item.task
    return result_key(
        "evaluate",
        task.instance_id,
        patch=item.prediction.model_patch or "",
        test_patch=task.test_patch,
        bug_patch=task.bug_patch,
        spec=item.env.spec.digest(),
        tests=[task.FAIL_TO_PASS, task.PASS_TO_PASS],
        base_commit=task.base_commit,
        env=item.env.key,
        limits=item.limits.model_dump(),
        backend=item.backend,
        harness=HARNESS_VERSION,
        # only where it applies, so other instances' stored results stay valid
        **({"not_tests": not_tests} if (not_tests := not_tests_of(task)) else {}),
    )


def evaluate_instance(item: EvalItem, ctx: ItemContext | None = None) -> ItemOutput:
    """Sanitise, apply the prediction, then the test patch, run the tests, grade."""
    start = time.monotonic()
    task, patch = item.task, item.prediction.model_patch or ""
    log: list[str] = []
    files: dict[str, str] = {"patch.diff": patch}
    result = InstanceResult(
        instance_id=task.instance_id,
        model_name_or_path=item.prediction.model_name_or_path,
        report=infra_error(task.instance_id, InfraFailure.INTERNAL, "not run"),
        empty_patch=not patch.strip(),
        env_key=item.env.key,
    )
    tampered: list[str] = []
    try:
        result.report = _evaluate(item, patch, result, log, files, tampered)
    except HarnessFailure as exc:
        result.report = infra_error(task.instance_id, exc.failure, exc.detail)
    except EnvBuildError as exc:
        result.report = infra_error(task.instance_id, InfraFailure.ENV_BUILD, str(exc)[-4000:])
    except SandboxError as exc:
        result.report = infra_error(task.instance_id, InfraFailure.SANDBOX, str(exc)[-4000:])
    except Exception as exc:  # a bug of ours: recorded with its traceback, never dropped
        detail = "".join(traceback.format_exception(exc)[-8:])
        result.report = infra_error(task.instance_id, InfraFailure.INTERNAL, detail)
    if tampered:
        result.report = result.report.model_copy(update={"tampered_files": tampered})
    result.duration_s = time.monotonic() - start
    files["apply.log"] = "\n".join(log)
    return ItemOutput(record=result.model_dump(mode="json"), files=files)


def _evaluate(
    item: EvalItem,
    patch: str,
    result: InstanceResult,
    log: list[str],
    files: dict[str, str],
    tampered: list[str],
) -> GradeReport:
    task, env = item.task, item.env
    backend = backend_for(item.backend, item.backend_options)
    backend.prepare(env)
    sandbox, _head = start_task_sandbox(backend, env, task, item.limits, log)
    with sandbox:
        model = PatchStep(name="model_patch", patch=patch)
        control = runner_control(patch)
        steps = [model]
        if control.check:  # apply it alone first: its settings files are compared after
            applied = apply_patches(sandbox, [model], timeout_s=item.limits.timeout_s)
            log.extend(a.log for a in applied)
            _check_model_patch(applied[0], result)
            steps = []
            control.restore += _changed_settings(sandbox, control.check)
        tampered += control.restore
        if tampered:
            log.append(f"runner-control files restored to HEAD: {', '.join(tampered)}")
        # A prediction must not pre-empt the tests it is graded with (SWE-bench resets
        # the test patch's files before applying it, too), nor change how they run.
        reset = list(dict.fromkeys([*files_in_patch(task.test_patch), *tampered]))
        steps.append(PatchStep(name="test_patch", patch=task.test_patch, reset=reset))
        result.test_command = task_test_command(task, env.spec.test_cmd)
        applied, run = patch_and_test(
            sandbox,
            steps,
            result.test_command,
            timeout_s=item.limits.timeout_s,
            parser=env.spec.log_parser,
        )
        log.extend(a.log for a in applied)
        by_name = {step.name: a for step, a in zip(steps, applied, strict=False)}
        if "model_patch" in by_name:
            _check_model_patch(by_name["model_patch"], result)
        test_step = by_name["test_patch"]  # reached: the model patch applied
        if not test_step.ok:
            raise HarnessFailure(InfraFailure.TEST_PATCH_APPLY, test_step.reason)
        result.test_patch_method = test_step.method
        assert run is not None  # every patch applied
        files["test_output.txt"] = run.output
        result.not_tests = not_tests_of(task)
        if result.not_tests:
            log.append(f"not graded (log-parser artifacts, not tests): {result.not_tests}")
        report = grade(_graded_task(task, result.not_tests), run, env.spec.log_parser)
        if report.outcome is Outcome.UNRESOLVED:
            failing = report.FAIL_TO_PASS.failure + report.PASS_TO_PASS.failure
            result.network_failures = network_failures(run.output, failing)
        return report


def _check_model_patch(applied: ApplyResult, result: InstanceResult) -> None:
    if not applied.ok:
        raise HarnessFailure(InfraFailure.PATCH_APPLY, applied.reason)
    result.patch_method = applied.method


def _changed_settings(sandbox: Sandbox, paths: list[str]) -> list[str]:
    """The settings files among `paths` whose pytest settings the applied prediction
    changed (HEAD's version against the working tree's)."""
    versions = file_versions(sandbox, paths)
    return [p for p in paths if pytest_settings_differ(p, *versions[p])]
