"""Template statements name the failing tests and their messages; the leakage check
rejects a statement quoting the fix; writers are looked up by name."""

from __future__ import annotations

import pytest

from swelego_ray.schema import Task
from swelego_ray.synth import Evidence, SynthConfig, TemplateWriter, leaked_lines
from swelego_ray.synth.statements import failure_lines, failure_messages, statement_writer

FIX = """diff --git a/m.py b/m.py
--- a/m.py
+++ b/m.py
@@ -1,2 +1,2 @@
 def f(values):
-    return total / (len(values) + 1)
+    return total / len(values)
"""


def test_template_statement_and_leakage():
    output = (
        "____ TestM.test_h[x] ____\n"
        "    def test_h():\n"
        ">       h()\n"
        "E       KeyError: 'x'\n"
        "E       more\n"
        "FAILED tests/test_m.py::test_f - assert 2.0 == 3\n"
        "FAILED tests/test_m.py::test_other - ValueError: no\n"
        "FAILED tests/test_m.py::TestM::test_h[x]\n"
        "PASSED tests/test_m.py::test_g\n"
    )
    task = Task(instance_id="a__m.1", repo="a/m", base_commit="0" * 40, patch=FIX)
    failing = ["tests/test_m.py::test_f", "tests/test_m.py::TestM::test_h[x]"]
    messages = failure_messages(output, failing)
    assert messages == {failing[0]: "assert 2.0 == 3", failing[1]: "KeyError: 'x'"}
    assert len(failure_lines(output)) == 3
    text = TemplateWriter().write(task, Evidence(failing_tests=failing, messages=messages))
    assert "`tests/test_m.py::test_f`" in text and "assert 2.0 == 3" in text
    assert "KeyError: 'x'" in text
    assert "test_other" not in text  # only the task's failing tests
    assert leaked_lines(text, FIX) == []
    quoting = text + "\nHint: use `return  total / len(values)`\n"
    assert leaked_lines(quoting, FIX) == ["return total / len(values)"]


def test_writers_by_name(tmp_path):
    cfg = SynthConfig(repos=[{"path": str(tmp_path)}], out=str(tmp_path / "o"))
    assert statement_writer("template", cfg).name == "template"
    with pytest.raises(ValueError, match="unknown statement writer 'nope'"):
        statement_writer("nope", cfg)
    with pytest.raises(ValueError, match="strategies"):
        SynthConfig(repos=[{"path": str(tmp_path)}], out="o", strategies=["nope"])
