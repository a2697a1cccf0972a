"""One typed record per tool call, from either wire form (swelego_ray.schema.tool_calls):
native OpenAI `tool_calls` or the text form `<function=NAME><parameter=K>v</parameter>`.

`parse_turn` never raises on model output: a call that cannot run (bad JSON, unknown
tool, missing or mistyped parameters, a broken text block) becomes a `MalformedCall`,
whose `observation()` is what the agent is told (`format_malformed_call`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.agent.observations import format_malformed_call
from swelego_ray.schema.tool_calls import (
    ToolCallParseError,
    coerce_arguments,
    parse_arguments,
    parse_text_tool_calls,
    validate_call,
)
from swelego_ray.schema.tools_schema import TOOLS


class ToolCall(BaseModel):
    """A call that may run: a known tool with arguments valid against its schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None  # the native call's id (text-form calls have none)
    form: Literal["native", "text"] = "native"


class MalformedCall(BaseModel):
    """A call that cannot run, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    problem: str
    name: str | None = None
    id: str | None = None
    form: Literal["native", "text"] = "native"

    def observation(self) -> str:
        return format_malformed_call(self.problem)


Call = ToolCall | MalformedCall


def parse_turn(
    content: str | None,
    tool_calls: list[dict[str, Any]] | None = None,
    tools: list[dict] | tuple[dict, ...] = TOOLS,
) -> list[Call]:
    """The calls of one assistant turn: its native `tool_calls` if any, else the text-form
    calls in `content` ([] when there are none)."""
    if tool_calls:
        return [_native(raw, tools) for raw in tool_calls]
    try:
        _prose, parsed = parse_text_tool_calls(content or "")
    except ToolCallParseError as exc:
        return [MalformedCall(problem=str(exc), form="text")]
    return [_checked(p.name, p.arguments, None, "text", tools) for p in parsed]


def _native(raw: Any, tools: list[dict] | tuple[dict, ...]) -> Call:
    if not isinstance(raw, dict):
        return MalformedCall(problem=f"a tool call must be an object, got {type(raw).__name__}")
    call_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    function = raw.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return MalformedCall(problem="the tool call has no function name", id=call_id)
    name = function["name"]
    try:
        arguments = parse_arguments(function.get("arguments"))
    except ToolCallParseError as exc:
        return MalformedCall(problem=f"{name}: {exc}", name=name, id=call_id)
    return _checked(name, arguments, call_id, "native", tools)


def _checked(
    name: str,
    arguments: dict[str, Any],
    call_id: str | None,
    form: Literal["native", "text"],
    tools: list[dict] | tuple[dict, ...],
) -> Call:
    arguments = coerce_arguments(name, arguments, tools)
    problems = validate_call(name, arguments, tools)
    if problems:
        return MalformedCall(
            problem=f"{name}: {'; '.join(problems)}", name=name, id=call_id, form=form
        )
    return ToolCall(name=name, arguments=arguments, id=call_id, form=form)
