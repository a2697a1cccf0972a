"""Tool calls from both wire forms into one typed record; bad calls become observations."""

from __future__ import annotations

import json

from swelego_ray.agent.calls import MalformedCall, ToolCall, parse_turn
from swelego_ray.agent.observations import MALFORMED_CALL_PREFIX, truncate_middle


def _native(name: str, arguments: object, call_id: str = "c1") -> dict:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def test_native_and_text_forms_give_the_same_record():
    native = parse_turn(None, [_native("str_replace_editor", {"command": "view", "path": "/t"})])
    text = parse_turn(
        "Let me look.\n<function=str_replace_editor>\n<parameter=command>view</parameter>\n"
        "<parameter=path>/t</parameter>\n</function>"
    )
    assert native == [ToolCall(name="str_replace_editor", arguments=native[0].arguments, id="c1")]
    assert text[0].arguments == native[0].arguments == {"command": "view", "path": "/t"}
    assert text[0].form == "text" and text[0].id is None


def test_text_values_are_coerced_to_the_schema_types():
    (call,) = parse_turn(
        "<function=str_replace_editor><parameter=command>insert</parameter>"
        "<parameter=path>/t/a.py</parameter><parameter=insert_line>3</parameter>"
        "<parameter=new_str>x = 1\n</parameter></function>"
    )
    assert isinstance(call, ToolCall) and call.arguments["insert_line"] == 3


def test_malformed_calls_become_error_observations():
    cases = [
        parse_turn(None, [_native("execute_bash", "{not json")]),
        parse_turn(None, [_native("rm_rf", {})]),
        parse_turn(None, [_native("execute_bash", {})]),
        parse_turn(None, [{"id": "x", "function": {"arguments": "{}"}}]),
        parse_turn(None, ["not a dict"]),
        parse_turn("<function=execute_bash><parameter=command>ls</function>"),
        parse_turn("<function=think><parameter=thought>a</parameter><parameter=thought>b"),
    ]
    for calls in cases:
        (call,) = calls
        assert isinstance(call, MalformedCall), call
        assert call.observation().startswith(MALFORMED_CALL_PREFIX)
    assert "rm_rf" in cases[1][0].problem and "command" in cases[2][0].problem


def test_no_call_is_an_empty_list_and_several_calls_keep_their_order():
    assert parse_turn("I am done thinking.") == []
    calls = parse_turn(None, [_native("think", {"thought": "a"}, "1"), _native("finish", {}, "2")])
    assert [c.name for c in calls] == ["think", "finish"]
    assert isinstance(calls[1], MalformedCall)  # finish needs its message


def test_truncate_middle_keeps_head_and_tail():
    text = "a" * 100 + "b" * 100
    cut = truncate_middle(text, 50)
    assert cut.startswith("a" * 25) and cut.endswith("b" * 25) and "150 characters" in cut
    assert truncate_middle("short", 50) == "short"
