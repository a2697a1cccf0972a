"""The agent's four tools behind one call: `Toolbox.run(call) -> observation text`.

execute_bash (agent.bash) and str_replace_editor (agent.editor) work on one persistent
shell session of the episode's sandbox; think records a thought; finish ends the episode
(the loop checks `is_finish`). A malformed call (agent.calls.MalformedCall) gets its
error observation; an infrastructure fault (SandboxError: the sandbox died) propagates,
as it is no answer the model earned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from swelego_ray.agent.bash import BashTool
from swelego_ray.agent.calls import Call, MalformedCall, ToolCall
from swelego_ray.agent.editor import EditorTool
from swelego_ray.agent.observations import format_malformed_call
from swelego_ray.sandbox import ShellSession
from swelego_ray.schema.tools_schema import FINISH, THINK


class Tool(Protocol):
    name: str

    def run(self, call: ToolCall) -> str: ...


@dataclass
class ThinkTool:
    name: str = THINK

    def run(self, call: ToolCall) -> str:
        return "Your thought has been logged."


@dataclass
class FinishTool:
    name: str = FINISH

    def run(self, call: ToolCall) -> str:
        return "The task is marked as finished."


def is_finish(call: Call) -> bool:
    """Whether `call` ends the episode (a valid finish call)."""
    return isinstance(call, ToolCall) and call.name == FINISH


class Toolbox:
    """The tools of one episode, on one shell session."""

    def __init__(
        self,
        session: ShellSession,
        *,
        idle_s: float = 30.0,
        hard_timeout_s: float | None = None,
        max_chars: int = 30_000,
    ) -> None:
        tools: list[Tool] = [
            BashTool(session, idle_s=idle_s, hard_timeout_s=hard_timeout_s, max_chars=max_chars),
            EditorTool(session, max_chars=max_chars),
            ThinkTool(),
            FinishTool(),
        ]
        self.tools = {tool.name: tool for tool in tools}

    def run(self, call: Call) -> str:
        """The observation of `call` (a malformed or unknown one included)."""
        if isinstance(call, MalformedCall):
            return call.observation()
        tool = self.tools.get(call.name)
        if tool is None:
            return format_malformed_call(
                f"unknown tool {call.name!r} (known: {sorted(self.tools)})"
            )
        return tool.run(call)
