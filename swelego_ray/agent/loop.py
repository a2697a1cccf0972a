"""The agent loop: one task, one shell session, one teacher, until an exception ends it.

    episode = Episode(task_text, Toolbox(shell), teacher, AgentConfig(max_turns=100))
    trajectory = episode.run(on_step=save)  # on_step(trajectory) after every step

`run` repeats `step`: ask the teacher, parse its calls (native tool calls or the text form
`<function=...>`), run each with the toolbox, append the observations. Every way out is an
`EpisodeEnd` (finish, the turn limit, the episode deadline, a full context window, a
teacher that failed); the
trajectory is handed to `on_step` after every step and once more at the end, also when
the sandbox itself fails (that exception propagates after the last save).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.agent.calls import Call, MalformedCall, ToolCall, parse_turn
from swelego_ray.agent.prompts import render_instance, render_system
from swelego_ray.agent.tools import is_finish
from swelego_ray.llm import ChatResult, ContextTooLong, LLMError
from swelego_ray.schema import Message, Trajectory
from swelego_ray.schema.tools_schema import TOOLS


class AgentConfig(BaseModel):
    """How one episode runs."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int = Field(100, ge=1)
    """Assistant turns before the episode ends with `max_turns` (SWE-Lego: 100)."""
    episode_timeout_s: float = Field(3600.0, gt=0)
    """Wall clock for the whole episode, model calls included."""
    call_form: Literal["native", "text"] = "native"
    """How the teacher calls tools: OpenAI `tool_calls`, or `<function=...>` in its text
    (the tools are then described in the system prompt; stop sequence `</function`)."""


class EndReason(StrEnum):
    """Why an episode ended."""

    FINISHED = "finished"
    MAX_TURNS = "max_turns"
    TIMEOUT = "episode_timeout"
    CONTEXT_EXHAUSTED = "context_exhausted"
    TEACHER_ERROR = "teacher_error"


class EpisodeEnd(Exception):
    """Ends the loop; `reason` says why."""

    reason = EndReason.FINISHED

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason.value)
        self.detail = detail


class Finished(EpisodeEnd):
    reason = EndReason.FINISHED


class TurnLimit(EpisodeEnd):
    reason = EndReason.MAX_TURNS


class TimeLimit(EpisodeEnd):
    reason = EndReason.TIMEOUT


class ContextExhausted(EpisodeEnd):
    """The conversation no longer fits the teacher's context window."""

    reason = EndReason.CONTEXT_EXHAUSTED


class TeacherFailed(EpisodeEnd):
    reason = EndReason.TEACHER_ERROR


class ToolRunner(Protocol):
    """What runs the calls (agent.tools.Toolbox)."""

    def run(self, call: Call) -> str: ...


class Teacher(Protocol):
    """What drives the agent: the next assistant turn for a conversation."""

    name: str

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None
    ) -> ChatResult: ...


class Episode:
    """One agent episode; `run` returns its trajectory (`meta.end_reason` says how it
    ended, `meta.turns` holds each turn's tokens and timings)."""

    def __init__(
        self,
        instance_id: str,
        problem_statement: str,
        toolbox: ToolRunner,
        teacher: Teacher,
        config: AgentConfig | None = None,
        *,
        workdir: str = "/testbed",
    ) -> None:
        self.instance_id, self.toolbox, self.teacher = instance_id, toolbox, teacher
        self.config = config or AgentConfig()
        self.tools = list(TOOLS) if self.config.call_form == "native" else None
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": render_system(self.config.call_form, TOOLS)},
            {"role": "user", "content": render_instance(problem_statement, workdir)},
        ]
        self.turns: list[dict[str, Any]] = []
        self.end: EpisodeEnd | None = None
        self._deadline = 0.0

    def run(self, on_step: Callable[[Trajectory], None] = lambda _: None) -> Trajectory:
        self._deadline = time.monotonic() + self.config.episode_timeout_s
        try:
            while True:
                self.step()
                on_step(self.trajectory())
        except EpisodeEnd as end:
            self.end = end
        finally:  # also when the sandbox fails: the history so far is kept
            on_step(self.trajectory())
        return self.trajectory()

    def step(self) -> None:
        if len(self.turns) >= self.config.max_turns:
            raise TurnLimit(f"{self.config.max_turns} turns")
        if time.monotonic() > self._deadline:
            raise TimeLimit(f"{self.config.episode_timeout_s:g} s")
        try:
            answer = self.teacher.reply(self.messages, self.tools)
        except ContextTooLong as exc:
            raise ContextExhausted(str(exc)[:2000]) from exc
        except LLMError as exc:
            raise TeacherFailed(str(exc)[:2000]) from exc
        message = answer.message()
        self.messages.append(message)
        calls = parse_turn(message.get("content"), message.get("tool_calls"))
        started = time.monotonic()
        if not calls:
            calls = [MalformedCall(problem="the reply has no tool call", form="text")]
        finished = False
        for call in calls:
            self._observe(call, self.toolbox.run(call))
            finished = finished or is_finish(call)
        self.turns.append(_turn_record(answer, len(calls), time.monotonic() - started))
        if finished:
            raise Finished()

    def _observe(self, call: Call, observation: str) -> None:
        """The observation as the next message: a `tool` message answering a native call,
        else a user message (the text form, OpenHands' wording)."""
        if call.form == "native" and call.id:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": observation})
        else:
            self.messages.append({"role": "user", "content": f"OBSERVATION:\n{observation}"})

    def trajectory(self) -> Trajectory:
        end = self.end.reason.value if self.end else None
        return Trajectory(
            instance_id=self.instance_id,
            messages=[Message.model_validate(m) for m in self.messages],
            tools=list(TOOLS),
            tool_call_format=self.config.call_form,
            model=self.teacher.name,
            config=self.config.model_dump(),
            source_format="swelego",
            meta={
                "end_reason": end,
                "end_detail": self.end.detail if self.end else "",
                "turns": self.turns,
            },
        )


def _turn_record(answer: ChatResult, calls: int, tools_s: float) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "model_s": round(answer.latency_s, 4),
        "tools_s": round(tools_s, 4),
        "calls": calls,
        "finish_reason": answer.finish_reason,
        "settings": answer.settings,
    }


def commands_of(trajectory: Trajectory) -> list[str]:
    """Every bash command the agent ran (for the git-hacking detector)."""
    out: list[str] = []
    for message in trajectory.messages:
        if message.role != "assistant":
            continue
        raw = [c.model_dump() for c in message.tool_calls] or None
        for call in parse_turn(message.content, raw):
            if isinstance(call, ToolCall) and call.name == "execute_bash":
                out.append(str(call.arguments.get("command", "")))
    return out


__all__ = [
    "AgentConfig",
    "EndReason",
    "Episode",
    "EpisodeEnd",
    "Teacher",
    "ToolRunner",
    "commands_of",
]
