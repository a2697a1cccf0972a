"""JSON schemas of the agent's four tools (execute_bash, str_replace_editor, think, finish:
the tool set of the SWE-Lego paper, arXiv 2601.01426), defined once.

`TOOLS` is the OpenAI `tools=[...]` list that the rollout sends to the teacher, that chat
templates render into the system turn, and that trajectory readers attach when a dump
carries no tool list of its own.
"""

from __future__ import annotations

import copy
from typing import Any

EXECUTE_BASH = "execute_bash"
STR_REPLACE_EDITOR = "str_replace_editor"
THINK = "think"
FINISH = "finish"
TOOL_NAMES: tuple[str, ...] = (EXECUTE_BASH, STR_REPLACE_EDITOR, THINK, FINISH)
EDITOR_COMMANDS: tuple[str, ...] = ("view", "create", "str_replace", "insert", "undo_edit")
EDITING_COMMANDS: frozenset[str] = frozenset({"create", "str_replace", "insert"})
"""Editor commands that write a file (the file then counts as code the agent wrote)."""


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS: tuple[dict[str, Any], ...] = (
    _fn(
        EXECUTE_BASH,
        "Run a bash command in a persistent shell in the task's sandbox (the working "
        "directory, environment variables and background processes persist between calls) "
        "and return its output followed by the exit code. A command still running at its "
        "timeout keeps running and its output so far is returned; then call again with "
        "is_input=true: an empty command to wait for more output, text to send to it, or "
        "C-c to interrupt it.",
        {
            "command": {"type": "string", "description": "The bash command to run."},
            "is_input": {
                "type": "string",
                "enum": ["true", "false"],
                "description": "Whether `command` is input for the running process.",
            },
            "timeout": {
                "type": "number",
                "description": "Seconds to wait for the command before returning its output "
                "so far (default: until 30 seconds pass without new output).",
            },
        },
        ["command"],
    ),
    _fn(
        STR_REPLACE_EDITOR,
        "View, create and edit files. `view` shows a file with line numbers (or lists a "
        "directory); `create` writes a new file; `str_replace` replaces old_str, which must "
        "occur exactly once, with new_str; `insert` adds new_str after line insert_line; "
        "`undo_edit` reverts the last edit of path. Failures start with `ERROR:`.",
        {
            "command": {"type": "string", "enum": list(EDITOR_COMMANDS)},
            "path": {"type": "string", "description": "Absolute path of a file or directory."},
            "file_text": {"type": "string", "description": "Content for `create`."},
            "old_str": {"type": "string", "description": "Exact text to replace."},
            "new_str": {"type": "string", "description": "Replacement or inserted text."},
            "insert_line": {"type": "integer", "description": "Line after which to insert."},
            "view_range": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "[start, end] lines to view; end -1 means to the end.",
            },
        },
        ["command", "path"],
    ),
    _fn(
        THINK,
        "Write down a thought (plan, hypothesis, analysis). It has no side effect.",
        {"thought": {"type": "string", "description": "The thought."}},
        ["thought"],
    ),
    _fn(
        FINISH,
        "Finish the task: call when the issue is resolved (or cannot be).",
        {"message": {"type": "string", "description": "A short summary of what was done."}},
        ["message"],
    ),
)


def tool_schemas() -> list[dict[str, Any]]:
    """A fresh copy of `TOOLS` (callers may mutate it)."""
    return copy.deepcopy(list(TOOLS))


def schema_by_name(tools: list[dict[str, Any]] | tuple[dict[str, Any], ...] = TOOLS) -> dict:
    """name -> the function's JSON schema (`parameters`) for an OpenAI tools list."""
    return {t["function"]["name"]: t["function"].get("parameters", {}) for t in tools}
