"""The four tools on a real local sandbox session (bubblewrap)."""

from __future__ import annotations

import pytest

from swelego_ray.agent.calls import ToolCall, parse_turn
from swelego_ray.agent.observations import TIMEOUT_RE, exit_code_of
from swelego_ray.agent.tools import Toolbox, is_finish


@pytest.fixture
def tools(session):
    return Toolbox(session, idle_s=1.0, hard_timeout_s=2.5, max_chars=2000)


def bash(tools: Toolbox, command: str, **extra: object) -> str:
    return tools.run(ToolCall(name="execute_bash", arguments={"command": command, **extra}))


def edit(tools: Toolbox, command: str, path: str, **extra: object) -> str:
    args = {"command": command, "path": path, **extra}
    return tools.run(ToolCall(name="str_replace_editor", arguments=args))


def test_execute_bash_persists_state_and_reports_exit_codes(tools):
    assert exit_code_of(bash(tools, "cd pkg && export K=v")) == 0
    out = bash(tools, 'pwd; echo "$K"; ls nope')
    assert out.startswith("/testbed/pkg\nv\n") and exit_code_of(out) == 2
    flood = bash(tools, "seq 1 100000")
    assert "characters of output cut" in flood and exit_code_of(flood) == 0 and len(flood) < 2200


def test_execute_bash_soft_timeout_input_and_ctrl_c(tools):
    # soft timeouts of 1 s: long enough for the first output on a loaded machine
    running = bash(tools, "echo go; sleep 4; echo late", timeout=1.0)
    assert running.startswith("go\n") and "still running" in running and TIMEOUT_RE.search(running)
    assert exit_code_of(running) is None
    assert "NOT executed" in bash(tools, "ls")
    assert exit_code_of(bash(tools, "C-c", is_input="true")) == 130
    asked = bash(tools, "printf 'name? '; read n; echo hi $n", timeout=1.0)
    assert asked.startswith("name? ")
    assert bash(tools, "ann", is_input="true").startswith("hi ann\n")
    assert bash(tools, "", is_input="true").startswith("ERROR: No previous running command")
    hard = bash(tools, "sleep 60")  # idle 1 s, then waits again until the hard limit
    assert "still running" in hard
    assert "was stopped" in bash(tools, "", is_input="true", timeout=10)


def test_editor_view_create_replace_insert_undo(tools):
    view = edit(tools, "view", "/testbed/pkg/mod.py")
    assert "     1\tdef add(a, b):" in view and "     5\tdef sub(a, b):" in view
    assert "pkg/mod.py" in edit(tools, "view", "/testbed")
    assert edit(tools, "view", "/testbed/pkg/mod.py", view_range=[5, -1]).count("\n") == 3
    assert edit(tools, "view", "pkg/mod.py").startswith("ERROR: Invalid `path` parameter")
    missing = edit(tools, "str_replace", "/testbed/pkg/mod.py", old_str="nope", new_str="x")
    assert missing.startswith("ERROR: No replacement was performed")
    twice = edit(tools, "str_replace", "/testbed/pkg/mod.py", old_str="return a", new_str="x")
    assert twice.startswith("ERROR:") and "lines [2, 6]" in twice
    done = edit(
        tools, "str_replace", "/testbed/pkg/mod.py", old_str="a + b", new_str="b + a  # swapped"
    )
    assert "has been edited" in done and "b + a  # swapped" in done
    assert "return b + a" in bash(tools, "cat /testbed/pkg/mod.py")
    inserted = edit(tools, "insert", "/testbed/pkg/mod.py", insert_line=0, new_str="import os")
    assert "     1\timport os" in inserted
    bad_line = edit(tools, "insert", "/testbed/pkg/mod.py", insert_line=99, new_str="x")
    assert bad_line.startswith("ERROR: Invalid `insert_line`")
    assert "undone" in edit(tools, "undo_edit", "/testbed/pkg/mod.py")
    assert "undone" in edit(tools, "undo_edit", "/testbed/pkg/mod.py")
    assert edit(tools, "undo_edit", "/testbed/pkg/mod.py").startswith("ERROR: No edit history")
    assert "return a + b" in bash(tools, "cat /testbed/pkg/mod.py")
    created = edit(tools, "create", "/testbed/new/repro.py", file_text="print('ü')\n")
    assert created.startswith("File created successfully")
    assert edit(tools, "create", "/testbed/new/repro.py", file_text="x").startswith("ERROR:")
    assert bash(tools, "python3 new/repro.py").startswith("ü\n")
    assert "removed" in edit(tools, "undo_edit", "/testbed/new/repro.py")


def test_think_finish_and_malformed_calls(tools):
    (think,) = parse_turn("<function=think><parameter=thought>hmm</parameter></function>")
    assert tools.run(think) == "Your thought has been logged."
    (finish,) = parse_turn(None, [{"id": "f", "function": {"name": "finish", "arguments": "{}"}}])
    assert not is_finish(finish) and tools.run(finish).startswith("ERROR: could not run")
    done = ToolCall(name="finish", arguments={"message": "fixed"})
    assert is_finish(done) and "finished" in tools.run(done)
