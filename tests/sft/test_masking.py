"""Step-level error masking: each rule, the final-turn and explicit-mask precedence, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.agent.observations import format_bash_observation, format_timeout_observation
from swelego_ray.schema import Trajectory, read_trajectories
from swelego_ray.schema.tools_schema import tool_schemas
from swelego_ray.sft.masking import (
    MaskingConfig,
    MaskRule,
    apply_masks,
    decide_masks,
    mask_dataset,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "trajectories"


def _fixture(name: str, index: int = 0) -> Trajectory:
    return read_trajectories(FIXTURES / name).trajectories[index]


def _reasons(traj: Trajectory, config: MaskingConfig | None = None) -> list[str | None]:
    return [d.reason for d in decide_masks(traj, config)]


def _traj(*steps: tuple[str, dict, str]) -> Trajectory:
    """(tool, arguments, observation) per turn, then a final finish turn."""
    messages = [{"role": "user", "content": "fix the bug"}]
    for i, (tool, args, obs) in enumerate(steps):
        call = {"id": f"c{i}", "type": "function",
                "function": {"name": tool, "arguments": json.dumps(args)}}  # fmt: skip
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": obs})
    messages.append({"role": "assistant", "content": "done"})
    return Trajectory(instance_id="t", messages=messages, tools=tool_schemas())


def _bash(command: str, output: str, code: int) -> tuple[str, dict, str]:
    return ("execute_bash", {"command": command}, format_bash_observation(output, code))


def test_native_fixture_rules_turn_by_turn():
    t = _fixture("openai_native.jsonl")
    assert _reasons(t) == [None, "command_not_found", None, "agent_code_error", None, None,
                           "editor_error", None, None, None]  # fmt: skip
    detail = decide_masks(t)[3].detail
    assert detail == "SyntaxError in agent code /testbed/reproduce.py"


def test_explicit_turn_mask_wins_and_final_turn_is_never_masked_by_rules():
    t = _fixture("openai_native.jsonl", 1)
    assert _reasons(t) == [None, "explicit", None, None]
    assert [d.masked for d in decide_masks(t)] == [False, True, False, False]
    share = _fixture("sharegpt.jsonl")
    assert _reasons(share) == [None, None, "explicit", None]
    cfg = MaskingConfig(respect_explicit=False)
    assert _reasons(share, cfg) == [None, None, "command_not_found", None]
    failing_view = ("str_replace_editor", {"command": "view", "path": "/x"}, "ERROR: no")
    final_error = _traj(failing_view, failing_view)
    final_error.messages.pop()  # drop the closing turn: the failing view is now the final one
    assert [d.masked for d in decide_masks(final_error)] == [True, False]


def test_text_form_fixture_malformed_call_and_expected_inline_reproduction():
    t = _fixture("openhands_text.jsonl")
    assert _reasons(t) == [None, None, "malformed_call", None, None, None]
    assert "never closed" in decide_masks(t)[2].detail


TB = "Traceback (most recent call last):\n"
SINGLE_RULE_CASES = [
    (("execute_bash", {"command": "sleep 999"}, format_timeout_observation("", 120)), "timeout"),
    (
        _bash("python setup.py develop", TB + '  File "/testbed/setup.py", line 3\nKeyError: 1', 1),
        "traceback_outside_reproduction",
    ),
    (_bash("python -m pytest tests", TB + "KeyError: 1", 1), None),
    (_bash("python reproduce_bug.py", TB + "KeyError: 1", 1), None),
    (
        _bash("python -c 'prnt(1)'", TB + '  File "<string>", line 1\nNameError: prnt', 1),
        "agent_code_error",
    ),
    (_bash("cd /testbed && foo --x", "bash: foo: command not found", 127), "command_not_found"),
    (
        ("execute_bash", {"cmd": "ls"}, "ERROR: could not run your tool call: missing"),
        "malformed_call",
    ),
    (("nonexistent_tool", {}, "ok"), "malformed_call"),
    (
        ("str_replace_editor", {"command": "view", "path": "/x"}, "ERROR: Invalid `path`"),
        "editor_error",
    ),
    (_bash("grep -rn foo .", "ERROR: fake line in grep output", 0), None),
]


@pytest.mark.parametrize(("step", "reason"), SINGLE_RULE_CASES)
def test_single_rules(step, reason):
    assert _reasons(_traj(step))[0] == reason


def test_unparsable_native_arguments_are_malformed():
    t = _traj(_bash("ls", "", 0))
    t.messages[1].tool_calls[0].function.arguments = '{"command": "ls'
    d = decide_masks(t)[0]
    assert d.reason == "malformed_call" and "not valid JSON" in d.detail


def test_code_errors_count_only_in_code_the_agent_wrote():
    path = "/testbed/pkg/mod.py"
    args = {"command": "str_replace", "path": path, "old_str": "a", "new_str": "b"}
    edit = ("str_replace_editor", args, f"The file {path} has been edited.")
    syntax = TB + f'  File "{path}", line 4\nIndentationError: unexpected indent'
    name = TB + f'  File "{path}", line 4, in f\nNameError: name x is not defined'
    other = TB + '  File "/testbed/pkg/other.py", line 4\nSyntaxError: bad'
    t = _traj(
        edit,
        _bash("python -m pytest", syntax, 1),
        _bash("python -m pytest", name, 1),
        _bash("python -m pytest", other, 1),
    )
    assert _reasons(t) == [None, "agent_code_error", None, None, None]
    missing = TB + '  File "/tmp/check.py", line 1\nModuleNotFoundError: No module named yaml'
    created = _traj(
        _bash("cat > /tmp/check.py << 'EOF'\nimport yaml\nEOF", "", 0),
        _bash("python /tmp/check.py", missing, 1),
    )
    assert _reasons(created) == [None, "agent_code_error", None]


def test_rules_can_be_switched_off_one_by_one_and_altogether():
    t = _fixture("openai_native.jsonl")
    only = MaskingConfig(rules=[MaskRule.EDITOR_ERROR])
    assert [r for r in _reasons(t, only) if r] == ["editor_error"]
    assert not any(_reasons(t, MaskingConfig(enabled=False)))
    with pytest.raises(ValueError):
        MaskingConfig(rules=["not_a_rule"])
    with pytest.raises(ValueError):
        MaskingConfig(typo=True)


def test_apply_masks_sets_turn_mask_and_reason_and_report_counts_per_dataset_and_rule():
    t = apply_masks(_fixture("openai_native.jsonl"))
    assert (
        t.messages[4].turn_mask is True
        and t.messages[4].mask_reason == "command_not_found: command not found"
    )
    assert t.messages[2].turn_mask is False and t.messages[2].mask_reason is None
    trajs = read_trajectories(FIXTURES / "openai_native.jsonl").trajectories
    masked, report = mask_dataset(trajs, dataset="native")
    _, text_report = mask_dataset([_fixture("openhands_text.jsonl")], dataset="text")
    report.datasets.update(text_report.datasets)
    assert report.datasets["native"]["turns"] == 14 and report.datasets["native"]["masked"] == 4
    assert report.masked_fraction("native") == pytest.approx(4 / 14)
    assert report.datasets["native"]["by_rule"] == {"command_not_found": 1, "agent_code_error": 1,
                                                    "editor_error": 1, "explicit": 1}  # fmt: skip
    assert report.masked_fraction() == pytest.approx(5 / 20)
    assert "native: 4/14 assistant turns masked (28.6%)" in report.render()
    assert masked[0].messages[4].turn_mask is True


def test_parallel_calls_any_editor_error_masks_the_turn():
    view = {"command": "view", "path": "/a.py"}
    calls = [
        {"id": f"c{i}", "type": "function",
         "function": {"name": "str_replace_editor", "arguments": json.dumps(view)}}
        for i in range(2)
    ]  # fmt: skip
    t = Trajectory(
        instance_id="p",
        messages=[
            {"role": "user", "content": "fix"},
            {"role": "assistant", "content": "", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "c0", "content": "     1\tx = 1"},
            {"role": "tool", "tool_call_id": "c1", "content": "ERROR: Invalid `path`"},
            {"role": "assistant", "content": "done"},
        ],
    )
    assert _reasons(t) == ["editor_error", None]


def test_unknown_tools_are_malformed_only_against_a_declared_tool_list():
    declared = _traj(("execute_ipython_cell", {"code": "1"}, "1"))
    assert _reasons(declared)[0] == "malformed_call"
    undeclared = declared.model_copy(update={"tools": []})
    assert _reasons(undeclared)[0] is None  # a scaffold tool this project does not define
