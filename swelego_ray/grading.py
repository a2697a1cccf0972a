"""Grading: the evidence of one test run + a task -> a report. Pure: no sandbox, no I/O.

The log is not trusted on its own (SWE-bench #620 showed patches printing fake PASSED
lines). The run script (`wrap_test_command`) wraps the test command between a start and an end
marker carrying a per-run nonce the patch cannot know, and prints the command's own exit
code after the end marker. `read_run` parses only the text between the markers, checks the
printed exit code against the one the sandbox recorded, and refuses an empty status map
with no sign the suite ran. A non-zero exit with no failing test in the log means the log
lies (or the runner died): never a pass.

Infrastructure failures (environment build, patch apply, timeout, out of memory, sandbox
faults, ...) are labelled as such (`Outcome.ERROR` with an `InfraFailure` reason): they are
never counted as unresolved and never dropped.
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.schema import Task
from swelego_ray.testlogs import StatusMap, TestStatus, lookup, parse_log


class ResolvedStatus(StrEnum):
    """SWE-bench's resolution levels."""

    FULL = "RESOLVED_FULL"  # every FAIL_TO_PASS and PASS_TO_PASS test passes
    PARTIAL = "RESOLVED_PARTIAL"  # some FAIL_TO_PASS pass, every PASS_TO_PASS passes
    NO = "RESOLVED_NO"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    ERROR = "error"  # infrastructure failure: no verdict on the patch


class InfraFailure(StrEnum):
    """Why an item could not be graded (labelled apart from test outcomes)."""

    ENV_BUILD = "env_build_failed"
    SANDBOX = "sandbox_error"
    SANITISE = "sanitise_failed"
    PATCH_APPLY = "patch_apply_failed"
    TEST_PATCH_APPLY = "test_patch_apply_failed"
    BUG_APPLY = "bug_apply_failed"  # a synthetic task's bug diff did not apply
    TIMEOUT = "timeout"  # the test command hit its deadline
    OOM = "oom"
    DISK = "disk_limit"  # the sandbox reached Limits.disk_mb
    OUTPUT_TRUNCATED = "output_truncated"  # results cut by the output cap
    ITEM_TIMEOUT = "item_timeout"  # the host-side deadline of the whole item
    WORKER_CRASHED = "worker_crashed"
    ITEM_LOST = "item_lost"  # never started (its node went away) or its output never came
    INTERNAL = "internal_error"  # a bug in swelego itself (traceback recorded)


class UnresolvedReason(StrEnum):
    TESTS_FAILED = "tests_failed"
    SUITE_DID_NOT_RUN = "suite_did_not_run"  # no test results and no sign the suite ran
    LOG_TAMPERED = "log_tampered"  # markers missing, repeated or disagreeing
    EXIT_CODE_CONTRADICTS_LOG = "exit_code_contradicts_log"


class TestRun(BaseModel):
    """Evidence of one test-command run, as the host recorded it."""

    model_config = ConfigDict(extra="forbid")
    __test__ = False

    nonce: str
    output: str
    exit_code: int  # from the sandbox (the script exits with the test command's code)
    timed_out: bool = False
    oom: bool = False
    disk_limit: bool = False
    truncated: bool = False
    duration_s: float = 0.0
    command: str = ""


def new_nonce() -> str:
    return secrets.token_hex(8)


def _start(nonce: str) -> str:
    return f">>>>> SWELEGO TESTS START {nonce}"


def _end(nonce: str) -> str:
    return f">>>>> SWELEGO TESTS END {nonce} exit="


def wrap_test_command(test_cmd: str, nonce: str) -> str:
    """Bash that runs `test_cmd` between markers and exits with its exit code."""
    return (
        f"echo '{_start(nonce)}'\n"
        f"{test_cmd}\n"
        "__swelego_rc=$?\n"
        f"echo; echo '{_end(nonce)}'\"$__swelego_rc\"\n"
        'exit "$__swelego_rc"\n'
    )


class RunReading(BaseModel):
    """What a test run's log says, once checked against the run's own evidence."""

    model_config = ConfigDict(extra="forbid")

    statuses: StatusMap = Field(default_factory=dict)
    valid: bool
    problem: UnresolvedReason | InfraFailure | None = None
    detail: str = ""


def read_run(run: TestRun, parser: str) -> RunReading:
    """Parse the marked region of `run` with `parser` and check it against the evidence."""
    if run.timed_out:
        return RunReading(valid=False, problem=InfraFailure.TIMEOUT, detail="deadline hit")
    if run.oom:
        return RunReading(valid=False, problem=InfraFailure.OOM, detail="memory limit hit")
    if run.disk_limit:
        return RunReading(valid=False, problem=InfraFailure.DISK, detail="disk limit hit")
    start, end = _start(run.nonce), _end(run.nonce)
    n_start, n_end = run.output.count(start), run.output.count(end)
    if n_start != 1 or n_end != 1:
        problem = InfraFailure.OUTPUT_TRUNCATED if run.truncated else UnresolvedReason.LOG_TAMPERED
        detail = f"expected one start and one end marker, saw {n_start} and {n_end}"
        return RunReading(valid=False, problem=problem, detail=detail)
    region, _, tail = run.output.partition(start)[2].partition(end)
    if not tail:  # the end marker came before the start marker
        return RunReading(valid=False, problem=UnresolvedReason.LOG_TAMPERED, detail="markers")
    match = re.match(r"(-?\d+)", tail)
    printed = int(match.group(1)) if match else None
    if printed != run.exit_code:
        detail = f"log says exit {printed}, sandbox recorded {run.exit_code}"
        return RunReading(valid=False, problem=UnresolvedReason.LOG_TAMPERED, detail=detail)
    statuses = parse_log(parser, region)
    if not statuses:
        detail = f"no test results in the log (exit code {run.exit_code})"
        return RunReading(valid=False, problem=UnresolvedReason.SUITE_DID_NOT_RUN, detail=detail)
    if run.exit_code != 0 and not any(s.failed for s in statuses.values()):
        detail = f"exit code {run.exit_code} but the log reports no failing test"
        return RunReading(
            statuses=statuses,
            valid=False,
            problem=UnresolvedReason.EXIT_CODE_CONTRADICTS_LOG,
            detail=detail,
        )
    return RunReading(statuses=statuses, valid=True)


class TestResults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False

    success: list[str] = Field(default_factory=list)
    failure: list[str] = Field(default_factory=list)


class GradeReport(BaseModel):
    """The verdict on one instance, with per-test results for FAIL_TO_PASS / PASS_TO_PASS."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    outcome: Outcome
    resolved_status: ResolvedStatus | None = None  # None when outcome is ERROR
    reason: str | None = None  # an UnresolvedReason or InfraFailure value
    detail: str = ""
    FAIL_TO_PASS: TestResults = Field(default_factory=TestResults)
    PASS_TO_PASS: TestResults = Field(default_factory=TestResults)
    exit_code: int | None = None

    @property
    def resolved(self) -> bool:
        return self.outcome is Outcome.RESOLVED


def infra_error(instance_id: str, failure: InfraFailure, detail: str = "") -> GradeReport:
    return GradeReport(
        instance_id=instance_id, outcome=Outcome.ERROR, reason=failure.value, detail=detail
    )


def _split(tests: list[str], statuses: StatusMap) -> TestResults:
    out = TestResults()
    for test in tests:
        status = lookup(statuses, test)
        (out.success if status is not None and status.passed else out.failure).append(test)
    return out


def resolution(f2p: TestResults, p2p: TestResults) -> ResolvedStatus:
    """FULL if everything passes; PARTIAL if some FAIL_TO_PASS pass and no PASS_TO_PASS
    broke; NO otherwise. An empty list counts as all passing (SWE-bench's rule)."""
    p2p_ok = not p2p.failure
    if not f2p.failure and p2p_ok:
        return ResolvedStatus.FULL
    if f2p.success and p2p_ok:
        return ResolvedStatus.PARTIAL
    return ResolvedStatus.NO


def grade(task: Task, run: TestRun, parser: str) -> GradeReport:
    """Grade `run` (tests executed after the prediction and test_patch) for `task`."""
    reading = read_run(run, parser)
    base = {"instance_id": task.instance_id, "exit_code": run.exit_code}
    if isinstance(reading.problem, InfraFailure):
        return infra_error(task.instance_id, reading.problem, reading.detail).model_copy(
            update={"exit_code": run.exit_code}
        )
    f2p = _split(task.FAIL_TO_PASS, reading.statuses)
    p2p = _split(task.PASS_TO_PASS, reading.statuses)
    if not reading.valid:
        # Results of a run whose log cannot be trusted are kept for reading, not a pass.
        return GradeReport(
            **base,
            outcome=Outcome.UNRESOLVED,
            resolved_status=ResolvedStatus.NO,
            reason=reading.problem.value if reading.problem else None,
            detail=reading.detail,
            FAIL_TO_PASS=f2p,
            PASS_TO_PASS=p2p,
        )
    missing = [t for t in f2p.failure + p2p.failure if lookup(reading.statuses, t) is None]
    if missing and run.truncated:
        detail = f"{len(missing)} graded test(s) missing from a truncated log, e.g. {missing[0]}"
        return infra_error(task.instance_id, InfraFailure.OUTPUT_TRUNCATED, detail)
    status = resolution(f2p, p2p)
    failing = f2p.failure + p2p.failure
    return GradeReport(
        **base,
        outcome=Outcome.RESOLVED if status is ResolvedStatus.FULL else Outcome.UNRESOLVED,
        resolved_status=status,
        reason=None if status is ResolvedStatus.FULL else UnresolvedReason.TESTS_FAILED.value,
        detail=f"failing: {', '.join(failing[:5])}" if failing else "",
        FAIL_TO_PASS=f2p,
        PASS_TO_PASS=p2p,
    )


__all__ = [
    "GradeReport",
    "InfraFailure",
    "Outcome",
    "ResolvedStatus",
    "RunReading",
    "TestResults",
    "TestRun",
    "TestStatus",
    "UnresolvedReason",
    "grade",
    "infra_error",
    "new_nonce",
    "read_run",
    "resolution",
    "wrap_test_command",
]
