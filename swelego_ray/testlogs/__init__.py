"""Test-log parsers: log text -> {test id: TestStatus}, one registry by name.

The name is what an EnvSpec's `log_parser` field holds. `lookup` reads a status map the
way graders must: tolerating test ids that public datasets cut at the first space.
"""

from swelego_ray.testlogs._pytest import parse_matplotlib, parse_pytest, parse_pytest_options
from swelego_ray.testlogs._registry import (
    PARSERS,
    PYTEST_PARSERS,
    REPO_PARSERS,
    LogParser,
    LogParserError,
    get_parser,
    parse_log,
)
from swelego_ray.testlogs._status import (
    StatusMap,
    TestStatus,
    lookup,
    not_a_test_id,
    strip_ansi,
)
from swelego_ray.testlogs._unittest import parse_sympy, parse_unittest

__all__ = [
    "PARSERS",
    "PYTEST_PARSERS",
    "REPO_PARSERS",
    "LogParser",
    "LogParserError",
    "StatusMap",
    "TestStatus",
    "get_parser",
    "lookup",
    "not_a_test_id",
    "parse_log",
    "parse_matplotlib",
    "parse_pytest",
    "parse_pytest_options",
    "parse_sympy",
    "parse_unittest",
    "strip_ansi",
]
