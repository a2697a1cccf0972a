"""Text-form tool-call parsing (OpenHands CodeAct), argument coercion and validation."""

from __future__ import annotations

import pytest

from swelego_ray.agent.observations import (
    exit_code_of,
    format_bash_observation,
    format_malformed_call,
    format_timeout_observation,
)
from swelego_ray.schema.tool_calls import (
    ParsedCall,
    ToolCallParseError,
    coerce_arguments,
    parse_arguments,
    parse_text_tool_calls,
    render_text_tool_call,
    validate_call,
)
from swelego_ray.schema.tools_schema import TOOL_NAMES, tool_schemas


def test_parses_prose_and_one_call_keeping_indentation():
    text = (
        "I will create the script.\n<function=str_replace_editor>\n"
        "<parameter=command>create</parameter>\n<parameter=path>/testbed/r.py</parameter>\n"
        "<parameter=file_text>\nif x:\n    y()\n</parameter>\n</function>"
    )
    prose, calls = parse_text_tool_calls(text)
    assert prose == "I will create the script."
    assert calls == [
        ParsedCall(
            "str_replace_editor",
            {"command": "create", "path": "/testbed/r.py", "file_text": "if x:\n    y()"},
        )
    ]


def test_missing_closing_function_tag_is_accepted_at_stop_sequence():
    _, calls = parse_text_tool_calls("<function=execute_bash>\n<parameter=command>ls</parameter>\n")
    assert calls == [ParsedCall("execute_bash", {"command": "ls"})]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<function=execute_bash>\n<parameter=command>ls", "never closed"),
        ("<function=>\n</function>", "empty function name"),
        (
            "<function=think>\n<parameter=thought>a</parameter>"
            "<parameter=thought>b</parameter></function>",
            "given twice",
        ),
    ],
)
def test_malformed_text_calls_raise_with_the_problem(text, problem):
    with pytest.raises(ToolCallParseError, match=problem):
        parse_text_tool_calls(text)


def test_render_then_parse_round_trips():
    args = {"command": "str_replace", "path": "/a.py", "old_str": "x = 1\n", "new_str": "x = 2\n"}
    _, calls = parse_text_tool_calls(render_text_tool_call("str_replace_editor", args))
    assert calls == [ParsedCall("str_replace_editor", args)]


def test_coercion_follows_the_schema_and_validation_reports_problems():
    raw = {"command": "view", "path": "/a.py", "view_range": "[1, 20]", "insert_line": "x"}
    coerced = coerce_arguments("str_replace_editor", raw)
    assert coerced["view_range"] == [1, 20] and coerced["insert_line"] == "x"
    problems = validate_call("str_replace_editor", coerced)
    assert problems == ["parameter 'insert_line' should be of type integer"]
    assert validate_call("execute_bash", {}) == ["missing required parameter 'command'"]
    assert validate_call("rm_rf", {})[0].startswith("unknown tool 'rm_rf'")
    assert "not one of" in validate_call("str_replace_editor", {"command": "edit", "path": "/a"})[0]
    assert validate_call("finish", {"message": "done"}) == []


def test_native_arguments():
    assert parse_arguments('{"command": "ls"}') == {"command": "ls"}
    assert parse_arguments(None) == {}
    with pytest.raises(ToolCallParseError, match="not valid JSON"):
        parse_arguments('{"command": ')
    with pytest.raises(ToolCallParseError, match="JSON object"):
        parse_arguments("[1]")


def test_four_tools_and_observation_formats():
    assert [t["function"]["name"] for t in tool_schemas()] == list(TOOL_NAMES)
    assert exit_code_of(format_bash_observation("out", 3)) == 3
    assert exit_code_of("[Command finished with exit code 0]") == 0
    assert exit_code_of("no code here") is None
    assert "timed out after 30 seconds" in format_timeout_observation("", 30)
    assert format_malformed_call("bad JSON").startswith("ERROR: could not run your tool call")
