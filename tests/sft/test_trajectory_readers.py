"""Readers for public trajectory formats (hand-written fixtures mirroring real dumps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.schema import (
    Label,
    Trajectory,
    TrajectoryFormatError,
    parse_trajectory,
    read_trajectories,
    write_trajectories,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "trajectories"


def _one(name: str, index: int = 0) -> Trajectory:
    result = read_trajectories(FIXTURES / name)
    assert result.errors == []
    return result.trajectories[index]


def test_openai_native_rebench_style():
    t = _one("openai_native.jsonl")
    assert t.source_format == "openai" and t.tool_call_format == "native"
    assert t.label is Label.RESOLVED and t.patch.startswith("diff --git")
    assert t.model == "Qwen3-Coder-480B-A35B-Instruct" and t.meta["exit_status"] == "submit"
    assert len(t.assistant_indices()) == 10
    call = t.messages[2].tool_calls[0]
    assert call.function.name == "str_replace_editor"
    assert json.loads(call.function.arguments) == {"command": "view", "path": "/testbed"}
    assert t.messages[3].role == "tool" and t.messages[3].tool_call_id == "toolu_01"
    rendered = t.chat_messages()[2]["tool_calls"][0]["function"]["arguments"]
    assert rendered == {"command": "view", "path": "/testbed"}  # dict for HF templates


def test_openai_swesmith_style_parts_json_text_and_turn_mask():
    t = _one("openai_native.jsonl", 1)
    assert t.messages[0].content.startswith("You are a helpful assistant")
    assert t.label is Label.UNRESOLVED and t.meta["traj_id"].endswith("run0")
    assert [t.messages[i].turn_mask for i in t.assistant_indices()] == [None, True, False, None]
    assert t.meta["dropped_message_keys"] == ["agent", "message_type"]
    assert json.loads(t.messages[4].tool_calls[0].function.arguments)["view_range"] == [40, 10]


def test_openhands_text_calls_are_parsed_but_not_rendered_twice():
    t = _one("openhands_text.jsonl")
    assert t.source_format == "openhands_text" and t.tool_call_format == "text"
    first = t.messages[2].tool_calls[0]
    assert first.function.name == "str_replace_editor"
    assert json.loads(first.function.arguments)["view_range"] == [9, 20]  # coerced
    assert t.messages[6].tool_calls == []  # the malformed call stays unparsed
    assert "tool_calls" not in t.chat_messages()[2]
    assert t.messages[3].role == "user"


def test_sharegpt_llamafactory_function_calls_and_observations():
    t = _one("sharegpt.jsonl")
    roles = [m.role for m in t.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant",
                     "tool", "assistant"]  # fmt: skip
    assert t.messages[4].content.startswith("The loader") and t.messages[4].tool_calls
    assert t.messages[5].tool_call_id == t.messages[4].tool_calls[0].id
    assert t.messages[6].turn_mask is True
    assert t.tools[0]["type"] == "function" and t.tools[0]["function"]["name"] == "execute_bash"
    assert t.label is Label.SEMI_RESOLVED


def test_bad_rows_are_recorded_with_location_and_do_not_abort():
    result = read_trajectories(FIXTURES / "bad_rows.jsonl")
    assert [t.instance_id for t in result.trajectories] == ["ok-5"]
    errors = {e.where.rsplit(":", 1)[1]: e.error for e in result.errors}
    assert set(errors) == {"1", "2", "3", "4"}
    assert "message 0" in errors["1"] and "instance_id=bad-1" in errors["1"]
    assert "not JSON" in errors["2"]
    assert "unknown role 'robot'" in errors["3"]
    assert "at least one assistant message" in errors["4"]
    assert result.funnel().as_dict()["out"] == 1
    assert result.funnel().dropped == {"invalid_message": 2, "no_assistant_turn": 1, "not_json": 1}


def test_turn_mask_only_on_assistant_messages():
    row = {
        "instance_id": "x",
        "messages": [
            {"role": "user", "content": "hi", "turn_mask": True},
            {"role": "assistant", "content": "ok"},
        ],
    }
    with pytest.raises(TrajectoryFormatError, match=r"message 0.*turn_mask"):
        parse_trajectory(row)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_write_read_round_trip(tmp_path, suffix):
    originals = [_one("openai_native.jsonl"), _one("sharegpt.jsonl"), _one("openhands_text.jsonl")]
    path = write_trajectories(originals, tmp_path / f"t{suffix}")
    again = read_trajectories(path)
    assert again.errors == [] and again.trajectories == originals


def test_parquet_style_none_columns_are_not_reported_as_dropped():
    row = {
        "instance_id": "x",
        "trajectory": [
            {"role": "user", "content": "hi", "tool_calls": None, "reasoning": None},
            {"role": "assistant", "content": "ok", "tool_calls": None, "reasoning": "r"},
        ],
    }
    t = parse_trajectory(row)
    assert t.meta["dropped_message_keys"] == ["reasoning"]
    assert t.messages[1].tool_calls == []
