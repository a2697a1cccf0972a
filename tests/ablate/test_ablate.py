"""The learning-signal ablation on a very small setting: four arms trained in-process on
a handful of replay-style trajectories (written here), every arm scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swelego_ray.ablate import AblateConfig, AblationResult, run_ablation
from swelego_ray.ablate.items import parse_reply

TASKS = ("alpha", "beta", "gamma", "delta")


def _turn(i: int, text: str, name: str, **args: Any) -> dict[str, Any]:
    call = {"id": f"call_{i}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}  # fmt: skip
    return {"role": "assistant", "content": text, "tool_calls": [call]}


def _obs(i: int, text: str) -> dict[str, Any]:
    return {"role": "tool", "content": text, "tool_call_id": f"call_{i}"}


def _replay_like(task: str) -> dict[str, Any]:
    """What the replay teacher does, with one mistyped command (command not found)."""
    path = f"/testbed/{task}/core.py"
    messages = [
        {"role": "system", "content": "You are a software engineer. Use the tools."},
        {"role": "user", "content": f"Fix the bug in {task}: add() subtracts."},
        _turn(1, "", "think", thought=f"Look at {path} first."),
        _obs(1, "Your thought has been logged."),
        _turn(2, "Reproduce the failure.", "execute_bash", command="pyhton -m pytest -q"),
        _obs(2, "bash: pyhton: command not found\n[The command completed with exit code 127.]"),
        _turn(3, "I mistyped the command; again.", "execute_bash", command="python -m pytest -q"),
        _obs(3, "F\n1 failed\n[The command completed with exit code 1.]"),
        _turn(
            4,
            f"Fix {task}/core.py.",
            "str_replace_editor",
            command="str_replace",
            path=path,
            old_str="return a - b",
            new_str="return a + b",
        ),
        _obs(4, f"The file {path} has been edited."),
        _turn(5, "", "finish", message="Fixed."),
        _obs(5, "Done."),
    ]
    return {"format": "swelego.trajectory/1", "instance_id": task, "messages": messages,
            "label": "resolved", "model": "replay"}  # fmt: skip


def test_parse_reply_reads_complete_and_cut_off_calls() -> None:
    whole = parse_reply('Look.\n<tool_call>\n{"name": "execute_bash", "arguments": '
                        '{"command": "ls"}}\n</tool_call>')  # fmt: skip
    assert (whole.name, whole.valid) == ("execute_bash", True)
    cut = parse_reply('<tool_call>\n{"name": "str_replace_editor", "arguments": {"path": "/t/a.py')
    assert (cut.name, cut.path, cut.valid) == ("str_replace_editor", None, False)
    wrong = parse_reply('<tool_call>\n{"name": "execute_bash", "arguments": {}}\n</tool_call>')
    assert not wrong.valid  # `command` is required
    assert parse_reply("no call at all").name is None


def test_four_arms_on_a_tiny_setting(tmp_path: Path, ray_local) -> None:
    data = tmp_path / "replay.jsonl"
    data.write_text("".join(json.dumps(_replay_like(t)) + "\n" for t in TASKS))
    cfg = AblateConfig(out=str(tmp_path / "ablate"), trajectories=str(data), epochs=1,
                       grad_accum=1, max_length=1024, max_new_tokens=8, max_sampled_turns=3,
                       observation_chars=60)  # fmt: skip
    result = run_ablation(cfg, echo=lambda _: None)

    assert (result.train_tasks, result.heldout_tasks) == (3, 1)
    assert result.masked_train_turns == {"command_not_found": 3}
    assert [a.arm for a in result.arms] == [
        "untrained", "mask-on_curr-on", "mask-on_curr-off", "mask-off_curr-on", "mask-off_curr-off",
    ]  # fmt: skip
    for arm in result.arms:
        assert arm.heldout_tokens > 0 and arm.heldout_loss > 0
        assert arm.sampled_turns == 3 and arm.mistake_positions == 1
        assert arm.mistake_preference in (0.0, 1.0) and arm.mistake_log_odds is not None
        assert arm.forced_tool_agreement is not None and arm.forced_file_agreement is None
    trained = result.arms[1:]
    assert all(a.train_steps >= 3 and a.final_train_loss is not None for a in trained)
    assert all(a.heldout_loss < result.arms[0].heldout_loss for a in trained)  # it learned a bit
    saved = AblationResult.model_validate_json((tmp_path / "ablate/ablation.json").read_text())
    assert saved == result
    table = (tmp_path / "ablate/ablation.md").read_text()
    assert "| mask-off_curr-off |" in table and "Read with care" in table
