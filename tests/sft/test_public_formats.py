"""Readers and masking on the public trajectory formats (fixtures in the published shapes,
written by tests/sft/public_formats.py; the same files ship in examples/trajectories/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from public_formats import (
    EXAMPLE_FILES,
    TASKS,
    nebius_row,
    openhands_eval_row,
    render_example,
    swe_gym_row,
    swe_smith_row,
)

from swelego_ray.schema import (
    Label,
    Trajectory,
    TrajectoryFormatError,
    detect_format,
    parse_trajectory,
    read_trajectories,
    read_trajectory_bytes,
)
from swelego_ray.sft.masking import decide_masks, mask_dataset, observation_body

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "trajectories"
EXPECTED_FORMAT = {
    "swe_gym_openhands.jsonl": "openai",
    "swe_smith.jsonl": "openhands_text",
    "nebius_swe_agent.jsonl": "swe_agent",
    "openhands_output.jsonl": "openhands_events",
    "openhands_v1_events.json": "openhands_events",
    "swe_play.jsonl": "openai",
}


def _masked_reasons(traj: Trajectory) -> list[str | None]:
    return [d.reason for d in decide_masks(traj)]


@pytest.mark.parametrize("name", sorted(EXAMPLE_FILES))
def test_example_files_are_the_builders_output_and_read_whole(name):
    path = EXAMPLES / name
    assert path.read_text() == render_example(name), (
        "regenerate: python tests/sft/public_formats.py"
    )
    result = read_trajectories(path)
    assert result.errors == []
    assert {t.source_format for t in result.trajectories} == {EXPECTED_FORMAT[name]}
    summary = result.render(str(path))
    assert f"{EXPECTED_FORMAT[name]} (" in summary and "0 unreadable" in summary


def test_swe_gym_hub_export_nulls_and_extra_call_keys():
    row = swe_gym_row(TASKS[0])
    row["messages"][2]["tool_calls"][0]["index"] = 0  # a non-null extra key is recorded
    t = parse_trajectory(row)
    assert t.instance_id == "swelego-samples__inikit-1_0" and t.label is Label.RESOLVED
    assert t.meta["dropped_message_keys"] == ["tool_calls.index"]
    assert t.patch.startswith("diff --git")  # from test_result.git_patch
    finish = next(x for x in t.tools if x["function"]["name"] == "finish")
    assert finish["function"]["parameters"] == {"type": "object", "properties": {}}
    assert "enum" not in t.tools[0]["function"]["parameters"]["properties"]["command"]
    call = t.messages[2].tool_calls[0]
    assert call.function.name == "str_replace_editor" and call.id.startswith("call_")


def test_swe_gym_variant_with_content_parts():
    t = parse_trajectory(swe_gym_row(TASKS[1], 1))
    assert t.messages[1].content.startswith("<uploaded_files>")
    assert t.label is Label.UNRESOLVED


def test_swe_gym_editor_errors_behind_observation_header_are_masked():
    t = parse_trajectory(swe_gym_row(TASKS[0]))
    assert t.messages[3].content.startswith("OBSERVATION:\nERROR:")
    reasons = _masked_reasons(t)
    assert reasons[0] == "editor_error" and "command_not_found" in reasons
    assert reasons.count(None) == len(reasons) - 2


def test_tools_with_null_parameters_do_not_crash_the_rules():
    t = parse_trajectory(swe_gym_row(TASKS[0]))
    raw = t.model_copy(update={"tools": [
        {"type": "function", "function": {"name": n, "parameters": None}}
        for n in ("execute_bash", "str_replace_editor", "finish")
    ]})  # fmt: skip
    assert _masked_reasons(raw)[0] == "editor_error"


def test_observation_headers_are_stripped():
    assert observation_body("EXECUTION RESULT of [str_replace_editor]:\nERROR:\nx") == "ERROR:\nx"
    assert observation_body("OBSERVATION:\nERROR:\nx") == "ERROR:\nx"
    assert observation_body("OBSERVATION:\nfine") == "fine"


def test_swe_smith_text_calls_bash_tool_and_json_text_column():
    row = swe_smith_row(TASKS[0])
    assert isinstance(row["messages"], str)
    t = parse_trajectory(row)
    assert t.source_format == "openhands_text" and t.tool_call_format == "text"
    names = [c.function.name for m in t.messages for c in m.tool_calls]
    assert names[:3] == ["str_replace_editor", "str_replace_editor", "bash"]
    assert names[-1] == "submit" and "tool_calls" not in t.chat_messages()[2]
    reasons = _masked_reasons(t)
    assert reasons[0] == "editor_error" and reasons[5] == "command_not_found"
    assert reasons[4] is None  # the failing reproduction run is the point of the run


def test_swe_smith_traceback_without_exit_code_is_masked_outside_reproduction():
    row = swe_smith_row(TASKS[0])
    messages = json.loads(row["messages"])
    messages[10]["content"] = messages[10]["content"].replace(
        "python /testbed/reproduce_bug.py", "python setup.py develop"
    )  # the assistant turn before the traceback observation
    row["messages"] = messages
    reasons = _masked_reasons(parse_trajectory(row))
    assert reasons[4] == "traceback_outside_reproduction"


def test_swe_smith_tool_role_variant():
    t = parse_trajectory(swe_smith_row(TASKS[2], 1))
    assert [m.role for m in t.messages[2:5]] == ["assistant", "tool", "assistant"]
    assert "command_not_found" in _masked_reasons(t)


def test_nebius_roles_mask_semantics_and_code_block_actions():
    row = nebius_row(TASKS[0], 1)
    t = parse_trajectory(row)
    assert t.source_format == "swe_agent" and t.tool_call_format == "text"
    assert t.messages[0].role == "system" and t.messages[0].content.startswith("SETTING:")
    assert t.label is Label.UNRESOLVED and t.model == "swe-agent-llama-70b"
    assistant = [t.messages[i] for i in t.assistant_indices()]
    assert assistant[0].turn_mask is True  # their mask: false = no loss
    assert all(m.turn_mask is None for m in assistant[1:])  # their mask: true = rules decide
    calls = [m.tool_calls[0].function.name for m in assistant]
    assert calls == ["open", "open", "bash", "edit", "edit", "bash", "bash", "submit"]
    edit_args = json.loads(assistant[3].tool_calls[0].function.arguments)
    assert edit_args["command"].startswith("edit 42:42\n") and edit_args["command"].endswith(
        "end_of_edit"
    )
    assert _masked_reasons(t) == ["explicit", None, "agent_code_error", "editor_error", None,
                                  "command_not_found", None, None]  # fmt: skip


def test_openhands_v0_history_with_function_calling():
    t = parse_trajectory(openhands_eval_row(TASKS[0]))
    assert t.source_format == "openhands_events" and t.label is Label.RESOLVED
    assert t.model == "claude-3-5-sonnet" and t.patch.startswith("diff --git")
    roles = "".join(m.role[0] for m in t.messages)
    assert roles == "su" + "at" * 8 + "a"
    for i in t.assistant_indices()[:-1]:
        assert t.messages[i + 1].tool_call_id == t.messages[i].tool_calls[0].id
    run = t.messages[11].content  # the failing reproduction run
    assert run.endswith("[The command completed with exit code 1.]")
    assert t.messages[3].content.startswith("ERROR:")
    assert _masked_reasons(t).count("editor_error") == 1
    assert "history" not in t.meta


def test_openhands_v0_history_without_function_calling_matches_by_cause():
    t = parse_trajectory(openhands_eval_row(TASKS[1], 1))
    first = t.messages[t.assistant_indices()[0]]
    assert first.tool_calls[0].function.name == "str_replace_editor"
    assert t.messages[t.assistant_indices()[0] + 1].tool_call_id == first.tool_calls[0].id
    finish = t.messages[t.assistant_indices()[-1]].tool_calls[0]
    assert finish.function.name == "finish" and "Fixed" in finish.function.arguments
    assert t.label is Label.UNRESOLVED and "command_not_found" in _masked_reasons(t)


def test_openhands_v1_event_list_file(tmp_path):
    path = tmp_path / "my-run.json"
    path.write_text((EXAMPLES / "openhands_v1_events.json").read_text())
    [t] = read_trajectories(path).trajectories
    assert t.instance_id == "my-run"
    assert t.messages[2].tool_calls[0].function.name == "file_editor"
    assert t.messages[3].content.startswith("ERROR:")
    assert _masked_reasons(t)[:1] == ["editor_error"]


def test_swe_play_rows_with_id_only():
    result = read_trajectories(EXAMPLES / "swe_play.jsonl")
    ids = [t.instance_id for t in result.trajectories]
    assert ids == [f"{t.instance_id}_0" for t in TASKS]
    assert all("id" not in t.meta for t in result.trajectories)


def test_format_override_and_unknown_format():
    row = nebius_row(TASKS[0])
    assert detect_format(row) == "swe_agent"
    with pytest.raises(TrajectoryFormatError) as err:
        parse_trajectory(row, fmt="openai")
    assert err.value.reason == "invalid_message" and "instance_id=swelego-samples__inikit-1" in str(
        err.value
    )
    with pytest.raises(ValueError, match="unknown trajectory format 'nope'"):
        read_trajectory_bytes(b"{}", "x.jsonl", fmt="nope")
    # a wrong override never drops native calls silently: every row says why
    forced = read_trajectories(EXAMPLES / "swe_gym_openhands.jsonl", fmt="swe_agent")
    assert not forced.trajectories and len(forced.errors) == 6
    assert all("native `tool_calls`" in e.error for e in forced.errors)


def test_bad_rows_in_a_mixed_batch_get_reasons_and_do_not_abort():
    lines = [
        json.dumps(swe_gym_row(TASKS[0])),
        json.dumps({"instance_id": "odd-1", "foo": 1}),
        "{broken",
        json.dumps({"id": "odd-2", "trajectory": [{"role": "robot", "text": "hi"}]}),
        json.dumps({"instance_id": "odd-3", "history": [{"action": "message", "source": "user",
                                                        "args": {"content": "hi"}}]}),
        json.dumps(nebius_row(TASKS[1])),
    ]  # fmt: skip
    result = read_trajectory_bytes("\n".join(lines).encode(), "/home/me/data.jsonl")
    assert [t.instance_id for t in result.trajectories] == [
        "swelego-samples__inikit-1_0", "swelego-samples__cronlite-3"]  # fmt: skip
    reasons = {e.instance_id: e.reason for e in result.errors}
    assert reasons == {"odd-1": "unknown_format", "?": "not_json", "odd-2": "invalid_message",
                       "odd-3": "no_assistant_turn"}  # fmt: skip
    assert all(e.where.startswith("/home/me/data.jsonl:") for e in result.errors)
    summary = result.render("/home/me/data.jsonl")
    assert "[unknown_format]" in summary and "swe_agent (" in summary and "? (" in summary


def test_masking_an_odd_row_never_aborts_the_batch(monkeypatch):
    from swelego_ray.sft import masking

    good, odd = (parse_trajectory(swe_gym_row(t)) for t in TASKS[:2])
    real = masking._first_rule

    def flaky(calls, *args, **kwargs):
        if any("cronlite" in str(c.args) for c in calls):
            raise AttributeError("'NoneType' object has no attribute 'get'")
        return real(calls, *args, **kwargs)

    monkeypatch.setattr(masking, "_first_rule", flaky)
    out, report = mask_dataset([good, odd], dataset=None)
    assert len(out) == 2 and report.datasets["openai"]["rules_error"] == 1
    assert "rules failed on 1" in report.render()
    assert any(m.turn_mask for m in out[0].messages)


def test_renamed_roles_are_mapped():
    row = {"id": "r-1", "messages": [
        {"role": "human", "content": "fix it"},
        {"role": "gpt", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
        {"role": "function", "content": "done", "tool_call_id": "c1"},
        {"role": "model", "content": "Fixed."},
    ]}  # fmt: skip
    t = parse_trajectory(row)
    assert [m.role for m in t.messages] == ["user", "assistant", "tool", "assistant"]
