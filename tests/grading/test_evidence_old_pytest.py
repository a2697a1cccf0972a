"""The evidence plugin names tests as the log of the pytest that runs it does."""

from __future__ import annotations

import types

import pytest

from swelego_ray.evidence import swelego_evidence as plugin


class _Config:
    """pytest's config as the plugin uses it: ids relative to the invocation directory."""

    def cwd_relative_nodeid(self, nodeid: str) -> str:
        return nodeid


@pytest.mark.parametrize(
    ("version", "nodeid", "expected"),
    [
        # pytest < 4 (e.g. 3.5.1 in SWE-bench marshmallow 2.20): the class instance "()"
        # is in the node id but not in the log nor in SWE-bench's FAIL_TO_PASS ids
        ("3.5.1", "tests/t.py::TestU::()::test_x", "tests/t.py::TestU::test_x"),
        ("3.5.1", "tests/t.py::TestU::()::test_p[a-b]", "tests/t.py::TestU::test_p[a-b]"),
        ("3.5.1", "tests/t.py::test_plain", "tests/t.py::test_plain"),
        # pytest >= 4 prints ids as they are: a parameter id may hold "::()" itself
        ("8.3.2", "tests/t.py::TestU::test_x", "tests/t.py::TestU::test_x"),
        ("8.3.2", "tests/t.py::test_p[::()]", "tests/t.py::test_p[::()]"),
    ],
)
def test_node_ids_match_the_log_of_the_running_pytest(
    monkeypatch: pytest.MonkeyPatch, version: str, nodeid: str, expected: str
):
    # a pytest older than 4 cannot be installed beside this suite's: stand in its version
    monkeypatch.setitem(plugin.sys.modules, "pytest", types.SimpleNamespace(__version__=version))
    monkeypatch.setitem(plugin._state, "config", _Config())
    assert plugin._node_id(nodeid) == expected
