"""The two kinds of validation work items, run inside Ray tasks: a baseline (the state
shared by many candidates, run once per environment and test command) and a candidate
(its changed state, plus the classification against the baseline)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.engine import ItemContext, ItemOutput
from swelego_ray.envs import EnvBuildError, Environment
from swelego_ray.gitsafe import DIFF_FLAGS
from swelego_ray.grading import InfraFailure, read_run
from swelego_ray.harness import HarnessFailure, backend_for, patch_and_test
from swelego_ray.patching import PatchStep
from swelego_ray.sandbox import Limits, SandboxError
from swelego_ray.schema import Task
from swelego_ray.storage import result_key
from swelego_ray.testlogs import StatusMap, TestStatus
from swelego_ray.validate._config import ChangeKind
from swelego_ray.validate._stability import Classified, classify

HARNESS_VERSION = "2"
NO_FAIL_TO_PASS = "no_fail_to_pass"
TOO_FEW_PASS_TO_PASS = "too_few_pass_to_pass"
CANDIDATE_PATCH_FAILED = "candidate_patch_failed"


class Job(BaseModel):
    """What both item kinds share: where and how to run."""

    model_config = ConfigDict(extra="forbid")

    env: Environment
    test_cmd: str
    test_patch: str = ""  # applied first (FIX candidates and their baseline)
    runs: int
    backend: str
    backend_options: dict[str, Any] = Field(default_factory=dict)
    limits: Limits
    parser: str


class BaselineJob(Job):
    baseline_id: str


class CandidateJob(Job):
    task: Task
    kind: ChangeKind  # FIX or BUG (resolved)
    baseline: dict[str, Any]  # the stored baseline record


def baseline_key(job: BaselineJob) -> str:
    return result_key(
        "validate-baseline",
        job.baseline_id,
        env=job.env.key,
        cmd=job.test_cmd,
        test_patch=job.test_patch,
        runs=job.runs,
        limits=job.limits.model_dump(),
        parser=job.parser,
        harness=HARNESS_VERSION,
    )


def candidate_key(job: CandidateJob) -> str:
    task = job.task
    return result_key(
        "validate",
        task.instance_id,
        patch=task.patch,
        kind=job.kind.value,
        test_patch=job.test_patch,
        env=job.env.key,
        cmd=job.test_cmd,
        runs=job.runs,
        limits=job.limits.model_dump(),
        parser=job.parser,
        baseline=job.baseline,
        harness=HARNESS_VERSION,
    )


_UNDO = "/tmp/.swelego-undo.diff"  # the sandbox's private /tmp


def _runs(
    job: Job,
    change: str,
    name: str,
    logs: list[str],
    *,
    reverse: bool = False,
    go_on: Callable[[list[dict[str, str]]], bool] | None = None,
) -> tuple[list[dict[str, str]], str]:
    """Run the tests `job.runs` times, each in a fresh sandbox with the test patch and
    `change` applied; appends every step's output to `logs`. Returns the status maps and,
    with `reverse`, the diff that undoes `change` (the fix of a bug). Stops early when
    `go_on(maps so far)` is false. Raises HarnessFailure for infrastructure problems and
    _Invalid for runs without usable results."""
    backend = backend_for(job.backend, job.backend_options)
    backend.prepare(job.env)
    maps, undo = [], ""
    for i in range(job.runs):
        with backend.start(job.env, job.limits) as sandbox:
            steps = [
                PatchStep(name="test_patch", patch=job.test_patch),
                PatchStep(name=name, patch=change),
            ]
            # the fix of a bug undoes it: its diff, taken before the tests run (`git` is
            # the safe one in the patching script)
            prelude = f"git add -A && git diff --cached -R {DIFF_FLAGS} HEAD > {_UNDO}"
            applied, run = patch_and_test(
                sandbox,
                steps,
                job.test_cmd,
                timeout_s=job.limits.timeout_s,
                prelude=prelude if reverse and i == 0 else "",
                parser=job.parser,
            )
            logs.extend(a.log for a in applied)
            if not applied[0].ok:
                raise HarnessFailure(InfraFailure.TEST_PATCH_APPLY, applied[0].reason)
            if not applied[1].ok:
                raise _Invalid(CANDIDATE_PATCH_FAILED, applied[1].reason)
            assert run is not None  # every patch applied
            if reverse and i == 0:
                undo = sandbox.read_file(_UNDO)
            logs.append(f"--- run {i + 1}: {job.test_cmd} (exit {run.exit_code})\n{run.output}")
        reading = read_run(run, job.parser)
        if isinstance(reading.problem, InfraFailure):
            raise HarnessFailure(reading.problem, reading.detail)
        if reading.problem is not None:  # tampered, contradictory or empty log
            raise _Invalid(reading.problem.value, reading.detail)
        maps.append({t: s.value for t, s in reading.statuses.items()})
        if go_on is not None and i + 1 < job.runs and not go_on(maps):
            break
    return maps, undo


class _Invalid(RuntimeError):
    """The run produced no usable results (a property of the change, not infrastructure)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _guarded(body) -> tuple[dict[str, Any], list[str]]:
    """Run `body` -> (record, logs); failures become records with a reason and infra flag."""
    logs: list[str] = []
    try:
        return body(logs), logs
    except HarnessFailure as exc:
        return {"ok": False, "reason": exc.failure.value, "infra": True, "detail": exc.detail}, logs
    except _Invalid as exc:
        return {"ok": False, "reason": exc.reason, "infra": False, "detail": exc.detail}, logs
    except EnvBuildError as exc:
        reason = InfraFailure.ENV_BUILD.value
        return {"ok": False, "reason": reason, "infra": True, "detail": str(exc)[-4000:]}, logs
    except SandboxError as exc:
        reason = InfraFailure.SANDBOX.value
        return {"ok": False, "reason": reason, "infra": True, "detail": str(exc)[-4000:]}, logs
    except Exception as exc:
        detail = "".join(traceback.format_exception(exc)[-8:])
        return {
            "ok": False,
            "reason": InfraFailure.INTERNAL.value,
            "infra": True,
            "detail": detail,
        }, logs


def run_baseline(job: BaselineJob, ctx: ItemContext | None = None) -> ItemOutput:
    def body(logs: list[str]) -> dict[str, Any]:
        maps, _ = _runs(job, "", "none", logs)
        return {"ok": True, "runs": maps}

    record, logs = _guarded(body)
    return ItemOutput(record=record, files={"test_output.txt": "\n".join(logs)})


def _typed(maps: list[dict[str, str]]) -> list[StatusMap]:
    return [{t: TestStatus(s) for t, s in m.items()} for m in maps]


def _raise_baseline_failure(record: dict[str, Any]) -> None:
    detail = "baseline: " + record.get("detail", "")
    if record.get("infra"):
        raise HarnessFailure(InfraFailure(record["reason"]), detail)
    raise _Invalid(f"baseline_{record['reason']}", detail)


def run_candidate(job: CandidateJob, ctx: ItemContext | None = None) -> ItemOutput:
    task = job.task

    def body(logs: list[str]) -> dict[str, Any]:
        if not job.baseline.get("ok"):
            _raise_baseline_failure(job.baseline)
        bug = job.kind is ChangeKind.BUG
        change = (task.bug_patch or task.patch) if bug else task.patch
        base_maps = [dict(m) for m in job.baseline["runs"]]

        def found_in(maps: list[dict[str, str]]) -> Classified:
            broken, fixed = (maps, base_maps) if bug else (base_maps, maps)
            return classify(_typed(broken), _typed(fixed))

        # a test is FAIL_TO_PASS only with the same outcome in every run: once the runs so
        # far leave none, more runs cannot make one (the verdict is already no_fail_to_pass)
        maps, reverse = _runs(
            job,
            change,
            "candidate_patch",
            logs,
            reverse=bug,
            go_on=lambda so_far: bool(found_in(so_far).FAIL_TO_PASS),
        )
        found = found_in(maps)
        update: dict[str, Any] = {
            "FAIL_TO_PASS": found.FAIL_TO_PASS,
            "PASS_TO_PASS": found.PASS_TO_PASS,
            "meta": {
                **task.meta,
                "validation": {
                    "runs": len(maps),
                    "flaky": found.flaky,
                    "env_key": job.env.key,
                    "test_cmd": job.test_cmd,
                },
            },
        }
        if bug:
            update["patch"] = reverse
            update["bug_patch"] = change
        validated = task.model_copy(update=update)
        record = {"ok": True, "task": validated.model_dump(mode="json"), "flaky": found.flaky}
        if len(maps) < job.runs:
            record["runs_done"] = len(maps)  # stopped early: no test left to be FAIL_TO_PASS
        return record

    record, logs = _guarded(body)
    return ItemOutput(record=record, files={"test_output.txt": "\n".join(logs)})
