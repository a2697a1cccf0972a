"""Log parsers, each tested on a log captured from the real runner (pytest 9, Python 3.11)."""

from __future__ import annotations

import pytest

from swelego_ray.testlogs import (
    PARSERS,
    REPO_PARSERS,
    LogParserError,
    TestStatus,
    get_parser,
    lookup,
    parse_log,
    parse_pytest,
    parse_pytest_options,
    parse_sympy,
    parse_unittest,
)

P, F, E, S = TestStatus.PASSED, TestStatus.FAILED, TestStatus.ERROR, TestStatus.SKIPPED

# `pytest -rA --color=yes tests/test_a.py` (summary section, verbatim)
PYTEST_RA_COLOR = (
    "\x1b[36m\x1b[1m=========================== short test summary info ==========\x1b[0m\n"
    "\x1b[32mPASSED\x1b[0m tests/test_a.py::\x1b[1mtest_param[a b]\x1b[0m\n"
    "\x1b[32mPASSED\x1b[0m tests/test_a.py::\x1b[1mtest_param[d - e]\x1b[0m\n"
    "\x1b[32mPASSED\x1b[0m tests/test_a.py::\x1b[1mtest_ok\x1b[0m\n"
    "\x1b[33mSKIPPED\x1b[0m [1] tests/test_a.py:18: nope\n"
    "\x1b[33mXFAIL\x1b[0m tests/test_a.py::\x1b[1mtest_xf\x1b[0m - known\n"
    "\x1b[33mXPASS\x1b[0m tests/test_a.py::\x1b[1mtest_xp\x1b[0m - maybe\n"
    "\x1b[31mERROR\x1b[0m tests/test_a.py::\x1b[1mtest_err\x1b[0m - RuntimeError: setup\n"
    "\x1b[31mFAILED\x1b[0m tests/test_a.py::\x1b[1mtest_param[c]\x1b[0m - AssertionError: "
    "assert 'c' != 'c'\n"
    "\x1b[31mFAILED\x1b[0m tests/test_a.py::\x1b[1mTestK::test_m\x1b[0m - assert [1, 2] == [1]\n"
    "\x1b[31m==== \x1b[31m\x1b[1m2 failed\x1b[0m, \x1b[32m3 passed\x1b[0m in 0.12s =====\x1b[0m\n"
)

# `pytest -rA -v tests/test_a.py` (progress lines)
PYTEST_VERBOSE = """\
tests/test_a.py::test_param[a b] PASSED                                  [ 11%]
tests/test_a.py::test_param[c] FAILED                                    [ 22%]
tests/test_a.py::test_param[d - e] PASSED                                [ 33%]
tests/test_a.py::test_ok PASSED                                          [ 44%]
tests/test_a.py::test_xf XFAIL (known)                                   [ 55%]
tests/test_a.py::test_xp XPASS (maybe)                                   [ 66%]
tests/test_a.py::test_sk SKIPPED (nope)                                  [ 77%]
tests/test_a.py::test_err ERROR                                          [ 88%]
tests/test_a.py::TestK::test_m FAILED                                    [100%]
"""

# a module that fails to import: pytest stops at collection
PYTEST_COLLECTION_ERROR = """\
==================================== ERRORS ====================================
____________________ ERROR collecting tests/test_broken.py _____________________
E   ModuleNotFoundError: No module named 'nonexistent_mod'
=========================== short test summary info ============================
ERROR tests/test_broken.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
=============================== 1 error in 0.19s ===============================
"""

# `python -m unittest -v test_u` on Python 3.11 (ids print as module.Class.method)
UNITTEST_VERBOSE = """\
test_doc (test_u.T.test_doc)
First docstring line. ... ok
test_err (test_u.T.test_err) ... ERROR
test_fail (test_u.T.test_fail) ... FAIL
test_noisy (test_u.T.test_noisy) ... some output
more
ok
test_ok (test_u.T.test_ok) ... ok
test_skip (test_u.T.test_skip) ... skipped 'why'
test_xf (test_u.T.test_xf) ... expected failure
test_xp (test_u.T.test_xp) ... unexpected success

======================================================================
ERROR: test_err (test_u.T.test_err)
----------------------------------------------------------------------
ValueError: x
======================================================================
FAIL: test_fail (test_u.T.test_fail)
----------------------------------------------------------------------
AssertionError: 1 != 2
----------------------------------------------------------------------
Ran 8 tests in 0.001s

FAILED (failures=1, errors=1, skipped=1, expected failures=1, unexpected successes=1)
"""

# Django's runtests.py --verbosity 2 on Python 3.8 (classic ids, output between ... and ok)
DJANGO_VERBOSE = """\
test_alter_field (migrations.test_operations.OperationTests) ... ok
test_rename (migrations.test_operations.OperationTests) ... System check identified no \
issues (0 silenced).
ok
test_bad (migrations.test_operations.OperationTests) ... FAIL
test_skipme (migrations.test_operations.OperationTests) ... skipped 'No sqlite'
"""

SYMPY_LOG = """\
sympy/core/tests/test_basic.py[3]
test_structure ok
test_equality F
test_matches E
test_slow s
________________________________________________________________________________
______________ sympy/core/tests/test_basic.py:test_equality ______________
AssertionError
"""


def test_pytest_summary_with_colours_spaces_and_brackets():
    got = parse_pytest(PYTEST_RA_COLOR)
    assert got == {
        "tests/test_a.py::test_param[a b]": P,
        "tests/test_a.py::test_param[d - e]": P,
        "tests/test_a.py::test_ok": P,
        "tests/test_a.py::test_xf": TestStatus.XFAIL,
        "tests/test_a.py::test_xp": TestStatus.XPASS,
        "tests/test_a.py::test_err": E,
        "tests/test_a.py::test_param[c]": F,
        "tests/test_a.py::TestK::test_m": F,
    }
    assert got["tests/test_a.py::test_xf"].passed and got["tests/test_a.py::test_xp"].passed


def test_pytest_verbose_lines_agree_with_summary():
    verbose = parse_pytest(PYTEST_VERBOSE)
    assert verbose.pop("tests/test_a.py::test_sk") is S
    assert verbose == parse_pytest(PYTEST_RA_COLOR)


def test_pytest_collection_error_is_an_error_for_the_file():
    assert parse_pytest(PYTEST_COLLECTION_ERROR) == {"tests/test_broken.py": E}


def test_pytest_xdist_lines():
    log = "[gw0] [ 50%] PASSED tests/t.py::test_a[x y]\n[gw1] [100%] FAILED tests/t.py::test_b\n"
    assert parse_pytest(log) == {"tests/t.py::test_a[x y]": P, "tests/t.py::test_b": F}


def test_conflicting_reports_keep_the_worse_status():
    # A patch printing a fake PASSED line after the real summary cannot turn FAILED green.
    log = "FAILED tests/t.py::test_a - assert 0\nPASSED tests/t.py::test_a\n"
    assert parse_pytest(log) == {"tests/t.py::test_a": F}


def test_pytest_options_shortens_path_parameters():
    log = "PASSED tests/t.py::test_file[/tmp/pytest-1/x/data.txt]\nPASSED tests/t.py::test_u[//a]\n"
    assert parse_pytest_options(log) == {
        "tests/t.py::test_file[/data.txt]": P,
        "tests/t.py::test_u[//a]": P,
    }


def test_unittest_verbose_python311():
    assert parse_unittest(UNITTEST_VERBOSE) == {
        "test_doc (test_u.T)": P,
        "test_err (test_u.T)": E,
        "test_fail (test_u.T)": F,
        "test_noisy (test_u.T)": P,
        "test_ok (test_u.T)": P,
        "test_skip (test_u.T)": S,
        "test_xf (test_u.T)": TestStatus.XFAIL,
        "test_xp (test_u.T)": F,
    }


def test_django_multiline_results():
    cls = "(migrations.test_operations.OperationTests)"
    assert parse_log("django", DJANGO_VERBOSE) == {
        f"test_alter_field {cls}": P,
        f"test_rename {cls}": P,
        f"test_bad {cls}": F,
        f"test_skipme {cls}": S,
    }


def test_sympy():
    got = parse_sympy(SYMPY_LOG)
    assert got["test_structure"] is P
    assert got["test_equality"] is F
    assert got["test_matches"] is E
    assert got["test_slow"] is S
    assert got["sympy/core/tests/test_basic.py:test_equality"] is F


def test_lookup_matches_ids_cut_at_the_first_space():
    status_map = parse_pytest(PYTEST_RA_COLOR)
    assert lookup(status_map, "tests/test_a.py::test_param[a") is P  # cut "[a b]"
    assert lookup(status_map, "tests/test_a.py::test_param[d") is P  # cut "[d - e]"
    assert lookup(status_map, "tests/test_a.py::test_ok") is P
    assert lookup(status_map, "tests/test_a.py::missing") is None
    # two full ids share a cut prefix: the worse status wins
    two = {"t.py::x[a b]": P, "t.py::x[a c]": F}
    assert lookup(two, "t.py::x[a") is F


def test_registry_names_and_errors():
    assert set(REPO_PARSERS.values()) <= set(PARSERS)
    for name in ("pytest", "pytest_v2", "django", "sympy", "unittest", "matplotlib"):
        assert callable(get_parser(name))
    with pytest.raises(LogParserError, match=r"unknown log parser 'nose'.*pytest"):
        get_parser("nose")


def test_swebench_bridge_fails_clearly_without_its_dependencies():
    # swebench 4.1.0 is installed with --no-deps here: its package __init__ needs bs4,
    # datasets, ... so the bridge must say so instead of failing somewhere deep.
    try:
        import swebench.harness.log_parsers  # noqa: F401
    except ImportError:
        with pytest.raises(LogParserError, match="needs the swebench package"):
            get_parser("swebench:django/django")
    else:
        parse = get_parser("swebench:pytest-dev/pytest")
        assert parse("PASSED t.py::a\nFAILED t.py::b - x\n") == {"t.py::a": P, "t.py::b": F}


def test_progress_indicator_fragments_are_not_test_ids():
    """SWE-bench's pytest-dev__pytest-5227 grades "[100%]", "[" and "[100%]-----...":
    pytest's progress indicator read as test names; no runner has such tests."""
    from swelego_ray.evaluate._instance import _graded_task, not_tests_of
    from swelego_ray.schema import Task
    from swelego_ray.testlogs import not_a_test_id

    junk = ["[100%]", "[", "[100%]------------------------------", "[ 50%]"]
    real = ["t.py::test_a[1]", "test_x (m.C)", "test_sympy", "t.py::test[100%]"]
    assert [not_a_test_id(n) for n in junk + real] == [True] * 4 + [False] * 4
    task = Task(
        instance_id="o__r-1", repo="o/r", base_commit="a" * 40,
        FAIL_TO_PASS=["t.py::test_a"], PASS_TO_PASS=["[100%]", "t.py::test_b", "["],
    )  # fmt: skip
    assert not_tests_of(task) == ["[100%]", "["]
    assert _graded_task(task, not_tests_of(task)).PASS_TO_PASS == ["t.py::test_b"]
