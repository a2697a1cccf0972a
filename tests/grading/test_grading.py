"""Grading from run evidence: resolution levels, distrust of the log, infra labels."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from swelego_ray.evidence import SECRET_VAR, new_run_id, record_line, run_script
from swelego_ray.grading import (
    InfraFailure,
    Outcome,
    ResolvedStatus,
    TestRun,
    UnresolvedReason,
    grade,
    new_nonce,
    read_run,
)
from swelego_ray.schema import Task

F2P = ["tests/test_m.py::test_fixed", "tests/test_m.py::test_p[a b]"]
P2P = ["tests/test_m.py::test_old"]


def _task(f2p=F2P, p2p=P2P) -> Task:
    return Task(
        instance_id="o__r-1", repo="o/r", base_commit="0" * 40, FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p
    )


def _run(body: str, exit_code: int, *, nonce: str = "n0nce", **kw) -> TestRun:
    """A run whose log is `body` between well-formed markers."""
    out = (
        f"setup noise\n>>>>> SWELEGO TESTS START {nonce}\n{body}\n"
        f">>>>> SWELEGO TESTS END {nonce} exit={exit_code}\n"
    )
    return TestRun(nonce=nonce, output=out, exit_code=exit_code, **kw)


ALL_PASS = textwrap.dedent("""\
    PASSED tests/test_m.py::test_fixed
    PASSED tests/test_m.py::test_p[a b]
    PASSED tests/test_m.py::test_old
""")


def test_all_pass_is_full():
    report = grade(_task(), _run(ALL_PASS, 0), "pytest")
    assert report.outcome is Outcome.RESOLVED and report.resolved
    assert report.resolved_status is ResolvedStatus.FULL
    assert report.FAIL_TO_PASS.success == F2P and report.PASS_TO_PASS.failure == []


def test_partial_and_no():
    partial = ALL_PASS.replace(
        "PASSED tests/test_m.py::test_fixed", "FAILED tests/test_m.py::test_fixed - x"
    )
    report = grade(_task(), _run(partial, 1), "pytest")
    assert report.resolved_status is ResolvedStatus.PARTIAL
    assert report.outcome is Outcome.UNRESOLVED and report.reason == "tests_failed"
    assert report.FAIL_TO_PASS.failure == ["tests/test_m.py::test_fixed"]
    broke_p2p = ALL_PASS.replace(
        "PASSED tests/test_m.py::test_old", "FAILED tests/test_m.py::test_old"
    )
    assert grade(_task(), _run(broke_p2p, 1), "pytest").resolved_status is ResolvedStatus.NO


def test_missing_test_counts_as_failure_and_is_named_not_run():
    log = "PASSED tests/test_m.py::test_fixed\nPASSED tests/test_m.py::test_old\n"
    report = grade(_task(), _run(log, 0), "pytest")
    assert report.FAIL_TO_PASS.failure == ["tests/test_m.py::test_p[a b]"]
    assert report.resolved_status is ResolvedStatus.PARTIAL
    assert report.reason == UnresolvedReason.TESTS_NOT_RUN
    assert "not seen to run" in report.detail and "test_p[a b]" in report.detail


def test_ids_cut_at_first_space_are_matched():
    report = grade(_task(f2p=["tests/test_m.py::test_p[a"]), _run(ALL_PASS, 0), "pytest")
    assert report.resolved


def test_fake_passed_lines_with_failing_exit_code_do_not_pass():
    """#620-style: the tests failed (exit 1) but the log shows only PASSED lines."""
    report = grade(_task(), _run(ALL_PASS, 1), "pytest")
    assert report.outcome is Outcome.UNRESOLVED
    assert report.reason == UnresolvedReason.EXIT_CODE_CONTRADICTS_LOG


def test_log_outside_markers_is_ignored():
    nonce = "abc"
    out = (
        f"{ALL_PASS}>>>>> SWELEGO TESTS START {nonce}\nFAILED tests/test_m.py::test_fixed\n"
        f">>>>> SWELEGO TESTS END {nonce} exit=1\n{ALL_PASS}"
    )
    report = grade(_task(), TestRun(nonce=nonce, output=out, exit_code=1), "pytest")
    assert report.outcome is Outcome.UNRESOLVED
    assert "tests/test_m.py::test_fixed" in report.FAIL_TO_PASS.failure
    assert "tests/test_m.py::test_old" in report.PASS_TO_PASS.failure  # not in the region


def test_forged_or_missing_markers_are_tampering():
    nonce = "abc"
    forged = (
        f">>>>> SWELEGO TESTS START {nonce}\n{ALL_PASS}>>>>> SWELEGO TESTS END {nonce} exit=0\n"
    )
    twice = forged + forged
    run = TestRun(nonce=nonce, output=twice, exit_code=0)
    assert read_run(run, "pytest").problem is UnresolvedReason.LOG_TAMPERED
    # the printed exit code must match what the sandbox recorded
    run = TestRun(nonce=nonce, output=forged, exit_code=1)
    assert read_run(run, "pytest").problem is UnresolvedReason.LOG_TAMPERED
    no_end = TestRun(
        nonce=nonce, output=f">>>>> SWELEGO TESTS START {nonce}\n{ALL_PASS}", exit_code=0
    )
    assert grade(_task(), no_end, "pytest").outcome is Outcome.UNRESOLVED


def test_empty_status_map_is_invalid_not_a_pass():
    report = grade(_task(f2p=[], p2p=[]), _run("ERROR: usage: pytest ...", 4), "pytest")
    assert report.outcome is Outcome.UNRESOLVED
    assert report.reason == UnresolvedReason.SUITE_DID_NOT_RUN


def test_infra_failures_are_labelled_apart():
    timed_out = grade(_task(), _run("", 137, timed_out=True), "pytest")
    assert (timed_out.outcome, timed_out.reason) == (Outcome.ERROR, InfraFailure.TIMEOUT)
    assert timed_out.resolved_status is None
    oom = grade(_task(), _run(ALL_PASS, 137, oom=True), "pytest")
    assert (oom.outcome, oom.reason) == (Outcome.ERROR, InfraFailure.OOM)
    cut = grade(_task(), _run("PASSED tests/test_m.py::test_old", 0, truncated=True), "pytest")
    assert (cut.outcome, cut.reason) == (Outcome.ERROR, InfraFailure.OUTPUT_TRUNCATED)


def _host_run(tmp_path: Path, command: str, *, signed: bool) -> TestRun:
    """`command` run on the host in `tmp_path` by the harness's own script, the secret on
    standard input as in a sandbox."""
    secret = new_nonce()
    script = f"IFS= read -r {SECRET_VAR}\n" + run_script(
        command, timeout_s=None, signed=signed, run_id=new_run_id()
    )
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, input=f"{secret}\n", capture_output=True, text=True
    )
    output = proc.stdout + proc.stderr
    assert secret not in script
    return TestRun(nonce=secret, output=output, exit_code=proc.returncode, signed=signed)


PYTEST = f"{sys.executable} -m pytest -rA -p no:cacheprovider tests"


def test_spoofing_conftest_caught_on_a_real_pytest_run(tmp_path: Path):
    """A patch adds a conftest that prints fake PASSED lines after the real summary; the
    real test fails, so pytest exits 1 and the run must not grade as resolved."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_m.py").write_text("def test_fixed():\n    assert False\n")
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent("""\
        def pytest_unconfigure(config):
            print("PASSED tests/test_m.py::test_fixed")
            print(">>>>> SWELEGO TESTS END guess exit=0")
    """)
    )
    task = _task(f2p=["tests/test_m.py::test_fixed"], p2p=[])
    for signed in (False, True):
        run = _host_run(tmp_path, PYTEST, signed=signed)
        assert run.exit_code == 1
        report = grade(task, run, "pytest")
        assert report.outcome is Outcome.UNRESOLVED
        assert report.FAIL_TO_PASS.failure == ["tests/test_m.py::test_fixed"]


def test_signed_records_grade_a_real_pytest_run(tmp_path: Path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_m.py").write_text(
        textwrap.dedent("""\
        import pytest

        def test_fixed():
            pass

        @pytest.mark.parametrize("x", ["a b", "c"])
        def test_p(x):
            pass

        def test_old():
            assert False
    """)
    )
    run = _host_run(tmp_path, PYTEST, signed=True)
    reading = read_run(run, "pytest")
    assert reading.valid, reading.detail
    assert reading.statuses == {
        "tests/test_m.py::test_fixed": "PASSED",
        "tests/test_m.py::test_p[a b]": "PASSED",
        "tests/test_m.py::test_p[c]": "PASSED",
        "tests/test_m.py::test_old": "FAILED",
    }
    report = grade(_task(), run, "pytest")
    assert report.FAIL_TO_PASS.success == F2P and report.PASS_TO_PASS.failure == P2P
    assert report.resolved_status is ResolvedStatus.NO
    assert report.reason == UnresolvedReason.TESTS_FAILED


FAKE_PASSES_AND_EXIT = textwrap.dedent("""\
    import os

    LINES = b"PASSED tests/test_m.py::test_fixed\\nPASSED tests/test_m.py::test_old\\n"
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                os.write(int(fd), LINES)
        except OSError:
            pass
    os._exit(0)
""")


def test_fake_passed_lines_and_exit_0_are_not_signed(tmp_path: Path):
    """The tested code prints PASSED for every graded test past pytest's capture (to
    every pipe it holds) and ends the process with exit 0 before pytest reports anything:
    the log alone would pass it; the signed records stop after START."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_m.py").write_text(FAKE_PASSES_AND_EXIT)
    unsigned = _host_run(tmp_path, PYTEST, signed=False)
    assert grade(_task(p2p=[], f2p=["tests/test_m.py::test_fixed"]), unsigned, "pytest").resolved
    run = _host_run(tmp_path, PYTEST, signed=True)
    assert run.exit_code == 0
    report = grade(_task(), run, "pytest")
    assert report.outcome is Outcome.UNRESOLVED
    assert report.reason == UnresolvedReason.EVIDENCE_MISSING, report.detail


def _signed_run(records: list[str], log: str = ALL_PASS, exit_code: int = 0, **kw) -> TestRun:
    secret = "s3cret"
    out = (
        f">>>>> SWELEGO TESTS START {secret}\n{log}\n"
        f">>>>> SWELEGO TESTS END {secret} exit={exit_code}\n"
        f">>>>> SWELEGO RECORDS {secret}\n" + "".join(r + "\n" for r in records)
    )
    return TestRun(nonce=secret, output=out, exit_code=exit_code, signed=True, **kw)


def _records(*results: tuple[str, str], secret: str = "s3cret", end: bool = True) -> list[str]:
    events = [("START", ""), *[(status, name) for name, status in results]]
    if end:
        events.append(("END", "0"))
    return [record_line(secret, i, status, name) for i, (status, name) in enumerate(events)]


ALL_SIGNED = [
    ("tests/test_m.py::test_fixed", "PASSED"),
    ("tests/test_m.py::test_p[a b]", "PASSED"),
    ("tests/test_m.py::test_old", "PASSED"),
]


def test_signed_run_resolves_on_verified_records():
    report = grade(_task(), _signed_run(_records(*ALL_SIGNED)), "pytest")
    assert report.resolved and not report.unsigned_passes


def test_unsigned_passed_lines_are_ignored_and_flagged():
    records = _records(*ALL_SIGNED[1:])  # test_fixed never ran: no record for it
    report = grade(_task(), _signed_run(records), "pytest")
    assert report.outcome is Outcome.UNRESOLVED
    assert report.reason == UnresolvedReason.LOG_TAMPERED
    assert report.unsigned_passes == ["tests/test_m.py::test_fixed"]
    assert report.FAIL_TO_PASS.failure == ["tests/test_m.py::test_fixed"]


def test_forged_gapped_or_unfinished_records_are_refused():
    good = _records(*ALL_SIGNED)
    forged = [*good[:-1], record_line("guessed", 4, "PASSED", "tests/test_m.py::x"), good[-1]]
    reading = read_run(_signed_run(forged), "pytest")
    assert reading.problem is UnresolvedReason.LOG_TAMPERED and "do not verify" in reading.detail
    gapped = good[:2] + good[3:]
    assert read_run(_signed_run(gapped), "pytest").problem is UnresolvedReason.LOG_TAMPERED
    unfinished = _records(*ALL_SIGNED, end=False)
    reading = read_run(_signed_run(unfinished), "pytest")
    assert reading.problem is UnresolvedReason.EVIDENCE_MISSING
    assert read_run(_signed_run([]), "pytest").problem is UnresolvedReason.EVIDENCE_MISSING
    cut = read_run(_signed_run(gapped, truncated=True), "pytest")
    assert cut.problem is InfraFailure.OUTPUT_TRUNCATED


def test_missing_test_runner_is_named_in_the_evidence_detail(tmp_path: Path):
    """An environment without the test command (pytest 2.x installs only `py.test`): the
    reading says the command was not found, not only that the plugin left no record."""
    (tmp_path / "tests").mkdir()
    run = _host_run(tmp_path, "swelego-no-such-pytest -rA tests", signed=True)
    assert run.exit_code == 127
    report = grade(_task(), run, "pytest")
    assert report.reason == UnresolvedReason.EVIDENCE_MISSING
    assert "exit 127: the test command was not found" in report.detail
