"""Test statuses, and how a status map is built and read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class TestStatus(StrEnum):
    """The outcome of one test as its runner reported it."""

    __test__ = False  # not a pytest test class

    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    XFAIL = "XFAIL"  # expected failure, failed as expected: counts as a pass
    XPASS = "XPASS"  # expected failure that passed (non-strict): counts as a pass

    @property
    def passed(self) -> bool:
        return self in (TestStatus.PASSED, TestStatus.XFAIL, TestStatus.XPASS)

    @property
    def failed(self) -> bool:
        return self in (TestStatus.FAILED, TestStatus.ERROR)


StatusMap = dict[str, TestStatus]

# When a log reports one test twice with different outcomes (a verbose line and a summary
# line disagreeing, or a patch printing fake PASSED lines), the worse outcome wins.
_SEVERITY = {
    TestStatus.ERROR: 5,
    TestStatus.FAILED: 4,
    TestStatus.SKIPPED: 3,
    TestStatus.XPASS: 2,
    TestStatus.XFAIL: 1,
    TestStatus.PASSED: 0,
}

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")


def strip_ansi(text: str) -> str:
    """Remove ANSI colour / cursor escape sequences (and stray carriage returns)."""
    return _ANSI_RE.sub("", text).replace("\r", "")


def collect(events: Iterable[tuple[str, TestStatus]]) -> StatusMap:
    """Build a status map from (test id, status) events; on conflict the worse status wins."""
    out: StatusMap = {}
    for test_id, status in events:
        test_id = test_id.strip()
        if not test_id:
            continue
        prev = out.get(test_id)
        if prev is None or _SEVERITY[status] > _SEVERITY[prev]:
            out[test_id] = status
    return out


def lookup(status_map: StatusMap, test_id: str) -> TestStatus | None:
    """The status of `test_id`, tolerating ids that a dataset cut at the first space.

    Public SWE-bench dumps store e.g. `tests/t.py::test_p[a` for the parametrized test
    `tests/t.py::test_p[a b]`, because their parsers split log lines on whitespace. When
    the exact id is missing, every full id whose part before the first space equals the
    cut id is considered; the worst of their statuses is returned.
    """
    if test_id in status_map:
        return status_map[test_id]
    matches = [
        status
        for full, status in status_map.items()
        if " " in full and full.split(" ", 1)[0] == test_id
    ]
    if not matches:
        return None
    return max(matches, key=_SEVERITY.__getitem__)


# SWE-bench's pytest parser reads pytest's progress indicator as test names when a test
# suite prints another pytest run's output (pytest-dev__pytest-5227's PASS_TO_PASS holds
# "[100%]", "[" and "[100%]------------------------------"): no runner has such a test.
_PROGRESS_FRAGMENT = re.compile(r"^\[(\s*\d{1,3}%\])?-*$")


def not_a_test_id(name: str) -> bool:
    """Whether a graded name is a log-parser artifact that no test can have (a fragment of
    pytest's progress indicator), not a test id."""
    return bool(_PROGRESS_FRAGMENT.match(name.strip()))
