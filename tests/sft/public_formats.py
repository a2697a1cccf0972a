"""Trajectories in the shapes of the public datasets, written for this project.

One abstract episode (explore, a failing editor call, write and run a reproduction
script, a mistyped command, the fix, a passing run, finish) is rendered in each published
layout: SWE-Gym OpenHands sampled trajectories (native calls, hub-export nulls),
SWE-smith (text-form calls, tool `bash`, observations as user turns), nebius SWE-agent
(`trajectory: [{role: system|user|ai, text, mask}]`, code-block commands), OpenHands
evaluation output with a V0 event `history`, an OpenHands V1 event list, and swe-play
style rows with `id` instead of `instance_id`. The content is invented (the sample
packages of examples/packages); only the shapes follow the datasets.

`write_examples(dest)` writes examples/trajectories/ (tests check the files match).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Task:
    instance_id: str
    package: str
    path: str  # file with the bug, relative to the repo root
    func: str
    bad: str
    good: str
    issue: str


TASKS = (
    Task("swelego-samples__inikit-1", "inikit", "src/inikit/convert.py", "to_duration",
         "total = float(amount) * DURATION_UNITS[unit]",
         "total += float(amount) * DURATION_UNITS[unit]",
         "`getduration()` ignores all but the last unit in combined durations like `1h30m`."),
    Task("swelego-samples__cronlite-3", "cronlite", "cronlite/expression.py", "next_after",
         "candidate = start", "candidate = start + ONE_MINUTE",
         "`next()` can return a time before its argument."),
    Task("swelego-samples__ledgerly-1", "ledgerly", "src/ledgerly/money.py", "allocate",
         "units = int(total / len(weights))", "units = int(total) // len(weights)",
         "`allocate()` loses a cent when splitting a negative amount."),
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One agent action and what the environment answered."""

    thought: str
    tool: str  # execute_bash | str_replace_editor | finish
    args: dict[str, Any]
    output: str = ""
    exit_code: int | None = None  # bash only
    error: bool = False  # editor only: the call failed


def episode(task: Task, variant: int = 0) -> list[Step]:
    root = f"/testbed/{task.path}"
    repro = "/testbed/reproduce_bug.py"
    steps = [
        Step("Let me look at the repository layout first.", "str_replace_editor",
             {"command": "view", "path": "/testbed", "view_range": [1, 20]},
             "The `view_range` parameter is not allowed when `path` points to a directory.",
             error=True),
        Step("Without a range, then.", "str_replace_editor",
             {"command": "view", "path": "/testbed"},
             f"Here's the files and directories up to 2 levels deep in /testbed:\n/testbed/"
             f"{task.path}\n/testbed/tests\n/testbed/README.md"),
        Step(f"Let me read `{task.func}`.", "execute_bash",
             {"command": f"grep -n '{task.bad}' {root}"},
             f"42:    {task.bad}", 0),
        Step("I will write a script that reproduces the issue.", "str_replace_editor",
             {"command": "create", "path": repro,
              "file_text": f"from {task.package} import {task.func}\n"
                           f"assert {task.func}() is not None\n"},
             f"File created successfully at: {repro}"),
        Step("Run it to confirm the bug.", "execute_bash", {"command": f"python {repro}"},
             f'Traceback (most recent call last):\n  File "{repro}", line 2, in <module>\n'
             f"    assert {task.func}() is not None\nAssertionError", 1),
        Step("Run the test suite too.", "execute_bash", {"command": "pytets -q tests"},
             "bash: pytets: command not found", 127),
        Step("Now fix the line.", "str_replace_editor",
             {"command": "str_replace", "path": root, "old_str": task.bad, "new_str": task.good},
             f"The file {root} has been edited."),
        Step("Check the fix.", "execute_bash", {"command": f"python {repro} && echo OK"}, "OK", 0),
        Step("The bug is fixed.", "finish", {"message": f"Fixed {task.func} in {task.path}."}),
    ]  # fmt: skip
    return steps[variant % 2 :]  # the second variant starts without the failing view


SYSTEM = "You are a helpful assistant that can interact with a computer to solve tasks."


def _issue(task: Task) -> str:
    return (
        f"<uploaded_files>\n/testbed\n</uploaded_files>\nI've uploaded a python code "
        f"repository in the directory /testbed. Consider the following PR description:\n\n"
        f"<pr_description>\n{task.issue}\n</pr_description>\n\nMake the minimal changes to "
        "non-test files so that the requirements are met."
    )


def _patch(task: Task) -> str:
    return (
        f"diff --git a/{task.path} b/{task.path}\n--- a/{task.path}\n+++ b/{task.path}\n"
        f"@@ -42 +42 @@\n-    {task.bad}\n+    {task.good}\n"
    )


# -- SWE-Gym OpenHands sampled trajectories ------------------------------------------------
OPENHANDS_TOOLS = [
    {"type": "function", "function": {
        "name": "execute_bash", "description": "Execute a bash command in the terminal.",
        "parameters": {"type": "object", "required": ["command"], "properties": {
            "command": {"type": "string", "description": "The bash command.", "enum": None}}}}},
    {"type": "function", "function": {
        "name": "finish", "description": "Finish the interaction.", "parameters": None}},
    {"type": "function", "function": {
        "name": "str_replace_editor", "description": "View, create and edit files.",
        "parameters": {"type": "object", "required": ["command", "path"], "properties": {
            "command": {"type": "string", "description": "The command.",
                        "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {"type": "string", "description": "Absolute path.", "enum": None},
            "file_text": {"type": "string", "description": "Content.", "enum": None},
            "old_str": {"type": "string", "description": "Text to replace.", "enum": None},
            "new_str": {"type": "string", "description": "New text.", "enum": None},
            "view_range": {"type": "array", "description": "Lines.", "enum": None,
                           "items": {"type": "integer"}}}}}},
]  # fmt: skip


def _hub_message(role: str, content: Any, **extra: Any) -> dict[str, Any]:
    """A message as a hub (Parquet) export writes it: every field present, nulls for absent."""
    row = {"content": content, "function_call": None, "name": None, "role": role,
           "tool_call_id": None, "tool_calls": None}  # fmt: skip
    row.update(extra)
    return row


def _openhands_observation(step: Step) -> str:
    if step.tool == "execute_bash":
        return (
            f"OBSERVATION:\n{step.output}\n"
            f"[Python Interpreter: /opt/miniconda3/envs/testbed/bin/python]\n"
            f"root@openhands-workspace:/testbed # \n"
            f"[Command finished with exit code {step.exit_code}]"
        )
    if step.error:
        return f"OBSERVATION:\nERROR:\n{step.output}"
    return f"OBSERVATION:\n{step.output}"


def swe_gym_row(task: Task, variant: int = 0) -> dict[str, Any]:
    messages = [_hub_message("system", SYSTEM), _hub_message("user", _issue(task))]
    for n, step in enumerate(episode(task, variant)):
        cid = f"call_{task.package}{variant}{n:02d}"
        call = {"function": {"arguments": json.dumps(step.args), "name": step.tool}, "id": cid,
                "index": None, "type": "function"}  # fmt: skip
        content = step.thought if n % 2 else ""  # gpt-4o often sends calls without text
        messages.append(_hub_message("assistant", content, tool_calls=[call]))
        if step.tool != "finish":
            messages.append(_hub_message("tool", _openhands_observation(step), name=step.tool,
                                         tool_call_id=cid))  # fmt: skip
    if variant:  # content as a list of text parts, as some exports write it
        messages[1]["content"] = [{"type": "text", "text": _issue(task), "cache_control": None}]
    return {
        "instance_id": f"{task.instance_id}_{variant}",
        "run_id": f"gpt-4o-2024-08-06_maxiter_50_N_v2.1-no-hint-train-t{variant}-run_1",
        "resolved": variant == 0,
        "messages": messages,
        "tools": OPENHANDS_TOOLS,
        "test_result": {"git_patch": _patch(task)},
    }


# -- SWE-smith -----------------------------------------------------------------------------
SWE_SMITH_SYSTEM = (
    SYSTEM + "\n\nYou have access to the following functions:\n\n"
    "---- BEGIN FUNCTION #1: bash ----\nDescription: Execute a bash command in the terminal.\n"
    "Parameters:\n  (1) command (string, required): The bash command to execute.\n"
    "---- END FUNCTION #1 ----\n\n---- BEGIN FUNCTION #2: submit ----\n"
    "Description: Finish the interaction when the task is complete.\n"
    "No parameters are required for this function.\n---- END FUNCTION #2 ----\n\n"
    "---- BEGIN FUNCTION #3: str_replace_editor ----\nDescription: View, create and edit files.\n"
    "Parameters:\n  (1) command (string, required): view, create, str_replace, insert, undo_edit\n"
    "  (2) path (string, required): Absolute path to file or directory.\n"
    "---- END FUNCTION #3 ----\n\nIf you choose to call a function ONLY reply in the "
    "following format with NO suffix:\n\n<function=example_function_name>\n"
    "<parameter=example_parameter_1>value_1</parameter>\n</function>"
)
_SWE_SMITH_NAMES = {
    "execute_bash": "bash",
    "finish": "submit",
    "str_replace_editor": "str_replace_editor",
}


def _function_text(name: str, args: dict[str, Any]) -> str:
    params = "".join(
        f"<parameter={k}>{v if isinstance(v, str) else json.dumps(v)}</parameter>\n"
        for k, v in args.items()
    )
    return f"<function={name}>\n{params}</function>"


def _swe_agent_observation(step: Step) -> str:
    if step.tool == "str_replace_editor" and step.error:
        return f"OBSERVATION:\nInvalid `view_range` parameter: {step.output}"
    if step.tool == "str_replace_editor" and step.args["command"] == "str_replace":
        return f"OBSERVATION:\n{step.output} Review the changes and make sure they are as expected."
    if step.tool == "execute_bash" and not step.output:
        return "OBSERVATION:\nYour command ran successfully and did not produce any output."
    return f"OBSERVATION:\n{step.output}"  # SWE-agent shows no exit code


def swe_smith_row(task: Task, variant: int = 0) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SWE_SMITH_SYSTEM},
        {"role": "user", "content": _issue(task)},
    ]
    for step in episode(task, variant):
        name = _SWE_SMITH_NAMES[step.tool]
        args = {} if name == "submit" else step.args
        messages.append(
            {"role": "assistant", "content": f"{step.thought}\n\n{_function_text(name, args)}"}
        )
        if name != "submit":
            messages.append({"role": "user", "content": _swe_agent_observation(step)})
    if variant:  # tool-role observations with text parts, as the `tool` split writes them
        for m in messages[2:]:
            if m["role"] == "user":
                m["role"] = "tool"
                m["content"] = [{"type": "text", "text": m["content"]}]
    return {
        "instance_id": f"{task.instance_id}.func_pm_op_swap__{variant}",
        "messages": json.dumps(messages) if variant == 0 else messages,  # a JSON-text column
        "resolved": True,
        "model": "claude-3-7-sonnet-20250219",
        "traj_id": f"{task.instance_id}.{variant}",
        "patch": _patch(task),
    }


# -- nebius SWE-agent ----------------------------------------------------------------------
SWE_AGENT_SYSTEM = (
    "SETTING: You are an autonomous programmer, and you're working directly in the command "
    "line with a special interface.\n\nCOMMANDS:\nopen:\n  signature: open <path> [<line_number>]\n"
    "edit:\n  signature: edit <start_line>:<end_line>\n<replacement_text>\nend_of_edit\n"
    "create:\n  signature: create <filename>\nsubmit:\n  signature: submit\n\n"
    "RESPONSE FORMAT:\nDISCUSSION\n...\n```\ncommand\n```"
)


def _prompt(task: Task, open_file: str = "n/a") -> str:
    return f"\n(Open file: {open_file})\n(Current directory: /{task.package})\nbash-$"


def _swe_agent_steps(task: Task) -> list[tuple[str, str, str]]:
    """(discussion, command, output) of the SWE-agent episode."""
    return [
        ("Let me find the file.", f"open {task.path.replace('.py', 'z.py')}",
         f"File {task.path.replace('.py', 'z.py')} not found"),
        ("A typo; open the right file.", f"open {task.path} 42",
         f"[File: /{task.package}/{task.path} (120 lines total)]\n42:    {task.bad}"),
        ("Reproduce the bug.", f"python -c 'from {task.package} import {task.func}; {task.func}()'",
         'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nNameError: '
         f"name '{task.func}x' is not defined"),
        ("Edit line 42.", f"edit 42:42\n  {task.good}\nend_of_edit",
         "Your proposed edit has introduced new syntax error(s). Please read this error message "
         "carefully and then retry editing the file.\n\nERRORS:\n- E999 IndentationError: "
         "unexpected indent"),
        ("Fix the indentation.", f"edit 42:42\n    {task.good}\nend_of_edit",
         f"[File: /{task.package}/{task.path} (120 lines total)]\n42:    {task.good}\n"
         "File updated. Please review the changes."),
        ("Run the tests.", "pytets -q", "/bin/bash: line 1: pytets: command not found"),
        ("Run them properly.", "python -m pytest -q", "3 passed in 0.05s"),
        ("Submit.", "submit", ""),
    ]  # fmt: skip


def nebius_row(task: Task, variant: int = 0) -> dict[str, Any]:
    trajectory: list[dict[str, Any]] = [
        {"cutoff_date": "01.01.2023", "mask": False, "role": "system",
         "system_prompt": SWE_AGENT_SYSTEM, "text": None},
        {"cutoff_date": None, "mask": False, "role": "user", "system_prompt": None,
         "text": f"ISSUE:\n{task.issue}\n\nINSTRUCTIONS:\nSolve it." + _prompt(task)},
    ]  # fmt: skip
    for discussion, command, output in _swe_agent_steps(task):
        trajectory.append({"cutoff_date": None, "mask": True, "role": "ai", "system_prompt": None,
                           "text": f"DISCUSSION\n{discussion}\n\n```\n{command}\n```"})  # fmt: skip
        if command != "submit":
            text = output + _prompt(task, task.path)
            trajectory.append({"cutoff_date": None, "mask": False, "role": "user",
                               "system_prompt": None, "text": text})  # fmt: skip
    if variant:
        trajectory[2]["mask"] = False  # the publisher excludes this turn from training
    return {
        "instance_id": task.instance_id,
        "model_name": "swe-agent-llama-70b",
        "target": variant == 0,
        "trajectory": trajectory,
        "exit_status": "submitted",
        "generated_patch": _patch(task),
        "eval_logs": "Will execute following command for apply_patch: ...",
    }


# -- OpenHands evaluation output (V0 event history) ----------------------------------------
def _v0_observation(step: Step, event_id: int, cause: int, meta: dict | None) -> dict[str, Any]:
    if step.tool == "execute_bash":
        return {"id": event_id, "source": "agent", "cause": cause, "observation": "run",
                "message": f"Command `{step.args['command']}` executed.",
                "content": step.output, "tool_call_metadata": meta,
                "extras": {"command": step.args["command"], "hidden": False, "metadata": {
                    "exit_code": step.exit_code, "pid": -1, "username": "root",
                    "working_dir": "/testbed", "prefix": "",
                    "suffix": f"\n[The command completed with exit code {step.exit_code}.]"}},
                "success": step.exit_code == 0}  # fmt: skip
    kind = "error" if step.error else "edit"
    content = f"ERROR:\n{step.output}" if step.error else step.output
    return {"id": event_id, "source": "agent", "cause": cause, "observation": kind,
            "message": content[:60], "content": content, "tool_call_metadata": meta,
            "extras": {"path": step.args.get("path", "")}}  # fmt: skip


def _tool_call_metadata(task: Task, n: int, step: Step, cid: str) -> dict[str, Any]:
    """OpenHands' record of the LLM response behind an action (function calling)."""
    call = {"id": cid, "type": "function", "index": 1,
            "function": {"name": step.tool, "arguments": json.dumps(step.args)}}  # fmt: skip
    message = {"role": "assistant", "content": step.thought, "tool_calls": [call]}
    choice = {"index": 0, "finish_reason": "tool_calls", "message": message}
    response = {"id": f"chatcmpl-{task.package}-{n}", "model": "claude", "choices": [choice]}
    return {"function_name": step.tool, "tool_call_id": cid, "total_calls_in_response": 1,
            "model_response": response}  # fmt: skip


def openhands_eval_row(task: Task, variant: int = 0) -> dict[str, Any]:
    """One line of OpenHands' evaluation output.jsonl; variant 1 has no function calling
    metadata (CodeAct actions matched to observations by `cause`)."""
    events: list[dict[str, Any]] = [
        {"id": 0, "source": "agent", "action": "system", "message": SYSTEM,
         "args": {"content": SYSTEM, "tools": OPENHANDS_TOOLS}},
        {"id": 1, "source": "user", "action": "message", "message": _issue(task),
         "args": {"content": _issue(task), "image_urls": None, "wait_for_response": False}},
        {"id": 2, "source": "environment", "observation": "agent_state_changed", "content": "",
         "extras": {"agent_state": "running"}, "message": ""},
    ]  # fmt: skip
    for n, step in enumerate(episode(task, variant)):
        action_id = len(events)
        cid = f"toolu_{task.package}{n:02d}"
        action = {"run": "execute_bash", "edit": "str_replace_editor", "finish": "finish"}
        kind = {v: k for k, v in action.items()}[step.tool]
        args = dict(step.args, thought=step.thought)
        if kind == "finish":
            args = {"final_thought": step.args["message"], "outputs": {}, "thought": step.thought}
        meta = _tool_call_metadata(task, n, step, cid) if variant == 0 else None
        events.append({"id": action_id, "source": "agent", "action": kind, "message": step.thought,
                       "args": args, "tool_call_metadata": meta, "timeout": 120})  # fmt: skip
        if kind != "finish":
            events.append(_v0_observation(step, action_id + 1, action_id, meta))
    return {
        "instance_id": task.instance_id,
        "instruction": _issue(task),
        "instance": {"instance_id": task.instance_id, "repo": f"swelego-samples/{task.package}"},
        "history": events,
        "metadata": {
            "agent_class": "CodeActAgent",
            "llm_config": {"model": "claude-3-5-sonnet"},
            "max_iterations": 100,
        },
        "test_result": {"git_patch": _patch(task)},
        "report": {"resolved": variant == 0, "empty_generation": False},
        "error": None,
    }


# -- OpenHands V1 SDK event list -----------------------------------------------------------
def openhands_v1_events(task: Task) -> list[dict[str, Any]]:
    tool_names = {
        "execute_bash": "terminal",
        "str_replace_editor": "file_editor",
        "finish": "finish",
    }
    events: list[dict[str, Any]] = [
        {"kind": "SystemPromptEvent", "source": "agent",
         "system_prompt": {"type": "text", "text": SYSTEM}, "tools": []},
        {"kind": "MessageEvent", "source": "user",
         "llm_message": {"role": "user", "content": [{"type": "text", "text": _issue(task)}]}},
    ]  # fmt: skip
    for n, step in enumerate(episode(task)):
        name, cid = tool_names[step.tool], f"toolu_v1_{n:02d}"
        events.append({"kind": "ActionEvent", "source": "agent", "tool_name": name,
                       "tool_call_id": cid, "llm_response_id": f"resp-{n}",
                       "thought": [{"type": "text", "text": step.thought}],
                       "tool_call": {"id": cid, "name": name, "arguments": json.dumps(step.args)},
                       "action": {"kind": "TerminalAction", **step.args}})  # fmt: skip
        if step.tool == "finish":
            continue
        content = [{"type": "text", "text": step.output}]
        observation: dict[str, Any] = {"kind": "Observation", "is_error": step.error,
                                       "content": content}  # fmt: skip
        if step.exit_code is not None:
            observation["exit_code"] = step.exit_code
        events.append({"kind": "ObservationEvent", "source": "environment", "tool_name": name,
                       "tool_call_id": cid, "observation": observation})  # fmt: skip
        events.append({"kind": "ConversationStateEvent", "source": "environment", "key": "x"})
    return events


# -- swe-play style: `id`, no `instance_id` ------------------------------------------------
def swe_play_row(task: Task, variant: int = 0) -> dict[str, Any]:
    row = swe_gym_row(task, variant)
    row["id"] = row.pop("instance_id")
    row["messages"] = [{k: v for k, v in m.items() if v is not None} for m in row["messages"]]
    return row


EXAMPLE_FILES = {
    "swe_gym_openhands.jsonl": lambda: [swe_gym_row(t, v) for t in TASKS for v in (0, 1)],
    "swe_smith.jsonl": lambda: [swe_smith_row(t, v) for t in TASKS for v in (0, 1)],
    "nebius_swe_agent.jsonl": lambda: [nebius_row(t, v) for t in TASKS for v in (0, 1)],
    "openhands_output.jsonl": lambda: [openhands_eval_row(t, v) for t in TASKS for v in (0, 1)],
    "openhands_v1_events.json": lambda: openhands_v1_events(TASKS[0]),
    "swe_play.jsonl": lambda: [swe_play_row(t) for t in TASKS],
}


def render_example(name: str) -> str:
    rows = EXAMPLE_FILES[name]()
    if name.endswith(".json"):
        return json.dumps(rows, indent=1) + "\n"
    return "".join(json.dumps(r) + "\n" for r in rows)


def write_examples(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in EXAMPLE_FILES:
        (dest / name).write_text(render_example(name))
        out.append(dest / name)
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    for path in write_examples(root / "examples" / "trajectories"):
        print(path)
