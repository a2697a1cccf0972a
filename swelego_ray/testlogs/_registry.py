"""One registry of log parsers by name: the name an EnvSpec's `log_parser` field holds."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from swelego_ray.testlogs._pytest import parse_matplotlib, parse_pytest, parse_pytest_options
from swelego_ray.testlogs._status import StatusMap, TestStatus, collect
from swelego_ray.testlogs._unittest import parse_sympy, parse_unittest

LogParser = Callable[[str], StatusMap]


class LogParserError(LookupError):
    """An unknown parser name, or a parser that cannot be loaded here."""


PARSERS: dict[str, LogParser] = {
    "pytest": parse_pytest,
    # SWE-bench's later-pytest parser strips colours; ours always does.
    "pytest_v2": parse_pytest,
    "pytest_options": parse_pytest_options,
    "seaborn": parse_pytest,
    "matplotlib": parse_matplotlib,
    "unittest": parse_unittest,
    # Django's runtests.py prints unittest's verbose format (multi-line results included).
    "django": parse_unittest,
    "sympy": parse_sympy,
}

# Parsers of pytest's own log format: a run graded by one of these can be read from the
# evidence plugin's signed records instead (swelego_ray.evidence).
PYTEST_PARSERS = frozenset({"pytest", "pytest_v2", "pytest_options", "seaborn", "matplotlib"})

# Which parser SWE-bench uses per repository, for spec authors (data, not code paths).
REPO_PARSERS: dict[str, str] = {
    "astropy/astropy": "pytest_v2",
    "django/django": "django",
    "marshmallow-code/marshmallow": "pytest",
    "matplotlib/matplotlib": "matplotlib",
    "mwaskom/seaborn": "seaborn",
    "pallets/flask": "pytest",
    "psf/requests": "pytest_options",
    "pvlib/pvlib-python": "pytest",
    "pydata/xarray": "pytest",
    "pydicom/pydicom": "pytest_options",
    "pylint-dev/astroid": "pytest",
    "pylint-dev/pylint": "pytest_options",
    "pytest-dev/pytest": "pytest",
    "pyvista/pyvista": "pytest",
    "scikit-learn/scikit-learn": "pytest_v2",
    "sqlfluff/sqlfluff": "pytest",
    "sphinx-doc/sphinx": "pytest_v2",
    "sympy/sympy": "sympy",
}

_SWEBENCH_PREFIX = "swebench:"


def get_parser(name: str) -> LogParser:
    """The parser registered as `name`.

    `swebench:<owner/repo>` selects the swebench package's own parser for that repository
    (any language). swebench 4.x imports its whole harness (datasets, docker, modal, ...)
    when any of it is imported, so that needs the package's full dependencies installed.
    """
    if name.startswith(_SWEBENCH_PREFIX):
        return _swebench_parser(name[len(_SWEBENCH_PREFIX) :])
    try:
        return PARSERS[name]
    except KeyError:
        raise LogParserError(
            f"unknown log parser {name!r}; known: {', '.join(sorted(PARSERS))}, "
            f"or {_SWEBENCH_PREFIX}<owner/repo>"
        ) from None


def parse_log(name: str, log: str) -> StatusMap:
    return get_parser(name)(log)


def _swebench_parser(repo: str) -> LogParser:
    try:
        module = importlib.import_module("swebench.harness.log_parsers")
    except ImportError as exc:
        raise LogParserError(
            f"log parser {_SWEBENCH_PREFIX}{repo} needs the swebench package with its "
            f"dependencies ({exc}); use a built-in parser: {', '.join(sorted(PARSERS))}"
        ) from exc
    table = module.MAP_REPO_TO_PARSER
    if repo not in table:
        raise LogParserError(f"swebench has no log parser for repository {repo!r}")
    theirs = table[repo]

    def parse(log: str) -> StatusMap:
        # Their parsers take (log, test_spec) and return status strings; ours use enums.
        raw = theirs(log, None)
        return collect((t, TestStatus(s)) for t, s in raw.items() if s in TestStatus.__members__)

    return parse
