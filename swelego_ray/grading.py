"""Grading: the evidence of one test run + a task -> a report. Pure: no sandbox, no I/O.

The log is not trusted on its own (SWE-bench #620 showed patches printing fake PASSED
lines). The run script (`swelego_ray.evidence.run_script`) prints a start and an end marker
made from a per-run secret that the code under test cannot read in advance (it travels on
the sandbox command's standard input only), and the command's own exit code after the end
marker. `read_run` parses only the text between the markers and checks the printed exit
code against the one the sandbox recorded.

For pytest runs, the statuses come from the evidence plugin's signed records alone (one per
test, HMAC with the secret, numbered from START to END): a PASSED line in the log without a
signed record is ignored, and when it concerns a graded test the run is reported as
tampered. Other runners are graded from the log between the markers. Every graded test must
be seen to run (a status for it), else the instance is unresolved with `tests_not_run`. An
empty status map with no sign the suite ran, or a non-zero exit with no failing test, is
never a pass. What the evidence cannot stop (code written against this harness that reads
the secret from process memory) is stated in `swelego_ray.evidence`.

Infrastructure failures (environment build, patch apply, timeout, out of memory, sandbox
faults, ...) are labelled as such (`Outcome.ERROR` with an `InfraFailure` reason): they are
never counted as unresolved and never dropped.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.evidence import (
    SignedRecords,
    end_marker,
    new_secret,
    records_marker,
    start_marker,
    verified_log,
    verify_records,
)
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


def is_infra_failure(reason: str) -> bool:
    """Whether a funnel drop reason is an infrastructure failure (no verdict on the item):
    what makes a job incomplete (exit 3)."""
    return reason in _INFRA_REASONS


def infra_failure_of(engine_reason: str | None) -> InfraFailure:
    """The InfraFailure of an item the stage engine gave no result for, from its
    `ItemFailure` value: timeouts, crashed workers and lost items keep their name; an item
    function that raised is a bug of ours (`internal_error`)."""
    try:
        return InfraFailure(engine_reason or "")
    except ValueError:
        return InfraFailure.INTERNAL


_INFRA_REASONS = frozenset(f.value for f in InfraFailure)


class UnresolvedReason(StrEnum):
    TESTS_FAILED = "tests_failed"
    SUITE_DID_NOT_RUN = "suite_did_not_run"  # no test results and no sign the suite ran
    LOG_TAMPERED = "log_tampered"  # markers or signed records forged, missing or disagreeing
    EXIT_CODE_CONTRADICTS_LOG = "exit_code_contradicts_log"
    EVIDENCE_MISSING = "evidence_missing"  # pytest's signed records absent or cut short
    TESTS_NOT_RUN = "tests_not_run"  # a graded test has no result: not seen to run


class TestRun(BaseModel):
    """Evidence of one test-command run, as the host recorded it."""

    model_config = ConfigDict(extra="forbid")
    __test__ = False

    nonce: str  # the run's secret (markers; the key of the signed records)
    output: str
    exit_code: int  # from the sandbox (the script exits with the test command's code)
    timed_out: bool = False
    oom: bool = False
    disk_limit: bool = False
    truncated: bool = False
    duration_s: float = 0.0
    command: str = ""
    signed: bool = False  # the evidence plugin's signed records follow the end marker


def new_nonce() -> str:
    """A fresh run secret."""
    return new_secret()


class RunReading(BaseModel):
    """What a test run's log says, once checked against the run's own evidence."""

    model_config = ConfigDict(extra="forbid")

    statuses: StatusMap = Field(default_factory=dict)  # signed ones for a signed run
    log_statuses: StatusMap = Field(default_factory=dict)  # what the log claims (signed runs)
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
    start, end = start_marker(run.nonce), end_marker(run.nonce)
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
    log_statuses = parse_log(parser, region)
    statuses = log_statuses
    if run.signed:
        records, trouble = _signed(run, tail)
        if trouble is not None:
            return trouble
        statuses = parse_log(parser, verified_log(records))
    if not statuses:
        detail = f"no test results in the log (exit code {run.exit_code})"
        return RunReading(valid=False, problem=UnresolvedReason.SUITE_DID_NOT_RUN, detail=detail)
    if run.exit_code != 0 and not any(s.failed for s in statuses.values()):
        detail = f"exit code {run.exit_code} but the log reports no failing test"
        return RunReading(
            statuses=statuses,
            log_statuses=log_statuses,
            valid=False,
            problem=UnresolvedReason.EXIT_CODE_CONTRADICTS_LOG,
            detail=detail,
        )
    return RunReading(statuses=statuses, log_statuses=log_statuses, valid=True)


# shell exit codes of a test command that could not start (e.g. pytest 2.x has no
# `pytest` script, only `py.test`)
_NOT_RUNNABLE = {
    126: ": the test command is not executable",
    127: ": the test command was not found; is its runner installed in the environment?",
}


def _signed(run: TestRun, tail: str) -> tuple[SignedRecords, RunReading | None]:
    """The verified records after the end marker, or the reading that refuses them."""
    marker = records_marker(run.nonce) + "\n"
    _, found, section = tail.partition(marker)
    records = verify_records(section, run.nonce) if found else SignedRecords()

    def refuse(problem: UnresolvedReason, detail: str) -> RunReading:
        # the output cap cuts out the middle (a marker line in its place): not a forgery
        label = InfraFailure.OUTPUT_TRUNCATED if run.truncated else problem
        return RunReading(valid=False, problem=label, detail=detail)

    if not found or tail.count(marker) != 1:
        n = tail.count(marker)
        return records, refuse(
            UnresolvedReason.LOG_TAMPERED, f"expected one signed-records marker, saw {n}"
        )
    if records.bad_lines:
        n, first = len(records.bad_lines), records.bad_lines[0]
        detail = f"{n} line(s) in the signed records do not verify, e.g. {first[:160]!r}"
        return records, refuse(UnresolvedReason.LOG_TAMPERED, detail)
    if not records.started:
        detail = (
            "no signed record from the evidence plugin: it was not loaded, or the test "
            f"process ended before pytest loaded it (exit {run.exit_code}"
            f"{_NOT_RUNNABLE.get(run.exit_code, '')})"
        )
        return records, refuse(UnresolvedReason.EVIDENCE_MISSING, detail)
    if records.gaps:
        detail = f"{records.gaps} signed record(s) missing from the sequence"
        return records, refuse(UnresolvedReason.LOG_TAMPERED, detail)
    if not records.finished:
        detail = (
            f"the signed records stop after {len(records.results)} result(s), before the "
            "end of the test session (the test process exited early or was killed)"
        )
        return records, refuse(UnresolvedReason.EVIDENCE_MISSING, detail)
    return records, None


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
    # graded tests the log shows passing with no signed record saying so (ignored)
    unsigned_passes: list[str] = Field(default_factory=list)
    # runner-control files the prediction changed; restored to HEAD before the run
    tampered_files: list[str] = Field(default_factory=list)

    @property
    def tampering(self) -> bool:
        return bool(self.unsigned_passes or self.tampered_files)

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
    unsigned = _unsigned_passes(task, reading) if run.signed else []
    status = resolution(f2p, p2p)
    reason, detail = _why_not(f2p, p2p, missing, unsigned)
    resolved = status is ResolvedStatus.FULL and not unsigned
    return GradeReport(
        **base,
        outcome=Outcome.RESOLVED if resolved else Outcome.UNRESOLVED,
        resolved_status=status if not unsigned else ResolvedStatus.NO,
        reason=None if resolved else reason.value,
        detail="" if resolved else detail,
        FAIL_TO_PASS=f2p,
        PASS_TO_PASS=p2p,
        unsigned_passes=unsigned,
    )


def _unsigned_passes(task: Task, reading: RunReading) -> list[str]:
    """Graded tests the log shows passing that no signed record shows passing."""
    out = []
    for test in task.FAIL_TO_PASS + task.PASS_TO_PASS:
        claimed, signed = lookup(reading.log_statuses, test), lookup(reading.statuses, test)
        if claimed is not None and claimed.passed and not (signed is not None and signed.passed):
            out.append(test)
    return out


def _why_not(
    f2p: TestResults, p2p: TestResults, missing: list[str], unsigned: list[str]
) -> tuple[UnresolvedReason, str]:
    """The reason (and its detail) an instance is not resolved, most telling first."""
    if unsigned:
        shown = ", ".join(unsigned[:5])
        return UnresolvedReason.LOG_TAMPERED, (
            f"the log shows {len(unsigned)} graded test(s) passing with no signed record "
            f"saying so (ignored): {shown}"
        )
    if missing:
        kinds = "FAIL_TO_PASS" if any(t in f2p.failure for t in missing) else "PASS_TO_PASS"
        return UnresolvedReason.TESTS_NOT_RUN, (
            f"{len(missing)} graded test(s) not seen to run (no result, e.g. a {kinds} "
            f"test): {', '.join(missing[:5])}"
        )
    failing = f2p.failure + p2p.failure
    return UnresolvedReason.TESTS_FAILED, f"failing: {', '.join(failing[:5])}"


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
]
