"""The Trajectory record: one agent episode as OpenAI-format chat messages plus its label.

Masking convention: `Message.turn_mask = True` means the assistant turn is MASKED (kept in
the context, no loss), as in SWE-Lego's data; `False` forces training; `None` lets the
error-masking rules (swelego_ray.sft.masking) decide.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TRAJECTORY_FORMAT = "swelego.trajectory/1"

Role = Literal["system", "user", "assistant", "tool"]


class Label(StrEnum):
    """Judge outcome of a trajectory's final patch (the labels of the SWE-Lego paper)."""

    RESOLVED = "resolved"  # all FAIL_TO_PASS and PASS_TO_PASS pass
    SEMI_RESOLVED = "semi_resolved"  # not resolved, but edits exactly the gold patch's files
    UNRESOLVED = "unresolved"
    ERROR = "error"  # infrastructure failure: no verdict on the model


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: str = "{}"
    """JSON text, as OpenAI sends it; kept verbatim even when malformed."""

    @field_validator("arguments", mode="before")
    @classmethod
    def _encode(cls, value: Any) -> Any:
        if value is None:
            return "{}"
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall

    @field_validator("id", "type", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: Any) -> Any:
        """Hub exports carry `id: null` / `type: null` for absent values."""
        if value is None:
            return "" if info.field_name == "id" else "function"
        return value


class Message(BaseModel):
    """One chat message. Content parts ([{type: text, text}]) are joined at this boundary."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    turn_mask: bool | None = None
    """Assistant turns only: True = no loss on this turn, False = train, None = rules decide."""
    mask_reason: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _join_parts(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, list):
            texts = []
            for part in value:
                if isinstance(part, dict) and part.get("type", "text") == "text":
                    texts.append(str(part.get("text", "")))
                elif isinstance(part, str):
                    texts.append(part)
                else:
                    raise ValueError(f"unsupported content part {str(part)[:80]!r}")
            return "".join(texts)
        return value

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _mask_only_on_assistant(self) -> Message:
        if self.role != "assistant" and self.turn_mask is not None:
            raise ValueError(f"turn_mask is only allowed on assistant messages, not {self.role}")
        if self.role != "assistant" and self.tool_calls:
            raise ValueError(f"tool_calls are only allowed on assistant messages, not {self.role}")
        return self


class Trajectory(BaseModel):
    """One episode. `tool_call_format` says how calls appear in the assistant text:
    `native` = in `tool_calls` (rendered by the chat template); `text` = inside `content`
    as `<function=...>` blocks (`tool_calls` then holds the parsed calls, for analysis
    only, and is not rendered a second time)."""

    model_config = ConfigDict(extra="forbid")

    format: str = TRAJECTORY_FORMAT
    instance_id: str
    messages: list[Message]
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_call_format: Literal["native", "text"] = "native"
    label: Label | None = None
    patch: str = ""
    """The final patch (`git diff --cached` against the base commit)."""
    model: str = ""
    """The model that produced the episode."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Scaffold / sampling config the episode ran with."""
    source_format: str = ""
    """The reader that produced this record (e.g. `openai`, `openhands_text`, `sharegpt`)."""
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tools", mode="before")
    @classmethod
    def _decode_tools(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("meta", "config", mode="before")
    @classmethod
    def _decode_object(cls, value: Any) -> Any:
        if value is None:
            return {}
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("instance_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _has_assistant_turn(self) -> Trajectory:
        if not any(m.role == "assistant" for m in self.messages):
            raise ValueError("a trajectory needs at least one assistant message")
        return self

    def assistant_indices(self) -> list[int]:
        """Indices (into `messages`) of the assistant turns, in order."""
        return [i for i, m in enumerate(self.messages) if m.role == "assistant"]

    def observation_after(self, index: int) -> list[Message]:
        """The messages that follow assistant message `index` up to the next assistant turn."""
        out = []
        for message in self.messages[index + 1 :]:
            if message.role == "assistant":
                break
            out.append(message)
        return out

    def chat_messages(self) -> list[dict[str, Any]]:
        """Messages as `apply_chat_template` expects them (HF convention: tool-call
        arguments as dicts when they decode to one; text-form calls stay in the content)."""
        rendered = []
        for m in self.messages:
            row: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.tool_calls and self.tool_call_format == "native":
                row["tool_calls"] = [_template_call(c) for c in m.tool_calls]
            if m.tool_call_id is not None:
                row["tool_call_id"] = m.tool_call_id
            if m.name is not None:
                row["name"] = m.name
            rendered.append(row)
        return rendered


def _template_call(call: ToolCall) -> dict[str, Any]:
    arguments: Any = call.function.arguments
    try:
        decoded = json.loads(arguments)
        if isinstance(decoded, dict):
            arguments = decoded
    except json.JSONDecodeError:
        pass  # a malformed call is rendered verbatim, as the model wrote it
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.function.name, "arguments": arguments},
    }
