"""Evaluating one instance in one sandbox (runs inside a Ray task)."""

from __future__ import annotations

import time
import traceback
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.envs import EnvBuildError, Environment
from swelego_ray.evaluate._config import Prediction
from swelego_ray.fanout import ItemOutput
from swelego_ray.grading import GradeReport, InfraFailure, grade, infra_error
from swelego_ray.harness import (
    HarnessFailure,
    backend_for,
    bug_patch,
    patch_and_test,
    start_task_sandbox,
    task_test_command,
)
from swelego_ray.patching import ApplyMethod, PatchStep, files_in_patch
from swelego_ray.sandbox import Limits, SandboxError
from swelego_ray.schema import Task
from swelego_ray.storage import result_key

HARNESS_VERSION = "1"  # bump when a change to the harness must invalidate stored results


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


def result_key_of(item: EvalItem) -> str:
    """Every input that changes the result, patch content included."""
    task = item.task
    return result_key(
        "evaluate",
        task.instance_id,
        patch=item.prediction.model_patch or "",
        test_patch=task.test_patch,
        bug_patch=bug_patch(task),
        spec=item.env.spec.digest(),
        tests=[task.FAIL_TO_PASS, task.PASS_TO_PASS],
        base_commit=task.base_commit,
        env=item.env.key,
        limits=item.limits.model_dump(),
        backend=item.backend,
        harness=HARNESS_VERSION,
    )


def evaluate_instance(item: EvalItem) -> ItemOutput:
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
    try:
        result.report = _evaluate(item, patch, result, log, files)
    except HarnessFailure as exc:
        result.report = infra_error(task.instance_id, exc.failure, exc.detail)
    except EnvBuildError as exc:
        result.report = infra_error(task.instance_id, InfraFailure.ENV_BUILD, str(exc)[-4000:])
    except SandboxError as exc:
        result.report = infra_error(task.instance_id, InfraFailure.SANDBOX, str(exc)[-4000:])
    except Exception as exc:  # a bug of ours: recorded with its traceback, never dropped
        detail = "".join(traceback.format_exception(exc)[-8:])
        result.report = infra_error(task.instance_id, InfraFailure.INTERNAL, detail)
    result.duration_s = time.monotonic() - start
    files["apply.log"] = "\n".join(log)
    return ItemOutput(record=result.model_dump(mode="json"), files=files)


def _evaluate(
    item: EvalItem, patch: str, result: InstanceResult, log: list[str], files: dict[str, str]
) -> GradeReport:
    task, env = item.task, item.env
    backend = backend_for(item.backend, item.backend_options)
    backend.prepare(env)
    sandbox, _head = start_task_sandbox(backend, env, task, item.limits, log)
    with sandbox:
        # A prediction must not pre-empt the tests it is graded with (SWE-bench resets
        # the test patch's files before applying it, too): both in one sandbox command.
        steps = [
            PatchStep(name="model_patch", patch=patch),
            PatchStep(
                name="test_patch", patch=task.test_patch, reset=files_in_patch(task.test_patch)
            ),
        ]
        result.test_command = task_test_command(task, env.spec.test_cmd)
        timeout_s = item.limits.timeout_s
        applied, run = patch_and_test(sandbox, steps, result.test_command, timeout_s=timeout_s)
        log.extend(a.log for a in applied)
        if not applied[0].ok:
            raise HarnessFailure(InfraFailure.PATCH_APPLY, applied[0].reason)
        result.patch_method = applied[0].method
        if not applied[1].ok:
            raise HarnessFailure(InfraFailure.TEST_PATCH_APPLY, applied[1].reason)
        result.test_patch_method = applied[1].method
        assert run is not None  # every patch applied
        files["test_output.txt"] = run.output
        return grade(task, run, env.spec.log_parser)
