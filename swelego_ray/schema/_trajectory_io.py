"""Trajectory readers for real public formats, and a lossless JSONL/Parquet writer.

Row formats (detected per row, or forced with `fmt=`; `FORMATS` lists them):
- `swelego`: this project's own record (has `format: swelego.trajectory/1`).
- `openai`: `messages` (or `trajectory`) in OpenAI chat format with native `tool_calls`
  (SWE-Gym OpenHands sampled trajectories, nebius SWE-rebench-openhands, nvidia SWE-Zero,
  SWE-smith `tool` dumps). Messages may be a JSON string; content may be a list of text
  parts; arguments may be a dict; tool calls may carry extra keys (`index: null`, ...),
  tools may have `parameters: null` (hub exports fill absent struct fields with null).
- `openhands_text`: the same shape, but calls written in the assistant text as
  `<function=NAME><parameter=ARG>value</parameter></function>` (SWE-smith trajectories,
  OpenHands CodeAct without native function calling); parsed into `tool_calls` for
  analysis only.
- `sharegpt`: LLaMA-Factory `conversations: [{from, value}]`.
- `swe_agent`: SWE-agent chat logs `trajectory: [{role: system|user|ai, text, mask}]`
  (nebius SWE-agent-trajectories); see swelego_ray.schema._trajectory_formats.
- `openhands_events`: OpenHands event histories (`history: [...]` of an evaluation's
  output.jsonl, or a JSON file that is one event list); see _trajectory_formats.
Common columns: instance_id (or id); patch | model_patch | generated_patch | git_patch;
label | resolved | target (bool); model | model_name; tools. Unknown columns go to
`meta`; message keys this record has no field for are listed in
`meta["dropped_message_keys"]` (`tool_calls.index` for a key inside a tool call).

A bad row never aborts a file: it is returned in `ReadResult.errors` with its location,
the format it was read as, and a snake_case reason.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swelego_ray.funnel import Funnel
from swelego_ray.schema._trajectory import TRAJECTORY_FORMAT, Label, Message, Trajectory
from swelego_ray.schema._trajectory_formats import (
    EVENT_KEYS,
    is_event_list,
    openhands_event_messages,
    openhands_event_row_fields,
    swe_agent_messages,
)
from swelego_ray.schema.tool_calls import (
    ToolCallParseError,
    coerce_arguments,
    has_text_tool_call,
    parse_text_tool_calls,
)
from swelego_ray.schema.tools_schema import TOOLS

FORMATS: dict[str, str] = {
    "swelego": "this project's records",
    "openai": "OpenAI messages, native tool calls (SWE-Gym, SWE-rebench-openhands, SWE-Zero)",
    "openhands_text": "OpenAI messages, <function=...> calls in the text (SWE-smith)",
    "sharegpt": "LLaMA-Factory conversations [{from, value}]",
    "swe_agent": "SWE-agent trajectory [{role: system|user|ai, text}] (nebius)",
    "openhands_events": "OpenHands event history (history / event list)",
}
"""Format name -> what it reads (the `--format` choices besides `auto`)."""

_MESSAGE_KEYS = set(Message.model_fields)
_CALL_KEYS = {"id", "type", "function"}
_FUNCTION_KEYS = {"name", "arguments"}
_ID_KEYS = ("instance_id", "id")
_PATCH_KEYS = ("patch", "model_patch", "generated_patch", "final_patch", "git_patch")
_MODEL_KEYS = ("model", "model_name")
_LABEL_KEYS = ("label", "resolved", "target")
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant",
                 "function": "tool", "observation": "tool", "ipython": "tool"}  # fmt: skip
"""Renamed roles seen in dumps (legacy OpenAI `function`, Llama `ipython`, ...)."""
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


class TrajectoryFormatError(ValueError):
    """A trajectory row that cannot be read; the message names the row and the problem,
    `reason` is a snake_case category (the funnel's drop reason)."""

    def __init__(self, message: str, reason: str = "invalid_record", fmt: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.fmt = fmt


@dataclass
class RecordError:
    where: str
    instance_id: str
    error: str
    reason: str = "invalid_record"
    """`not_json` (the line does not decode), `unknown_format` (no reader fits),
    `no_assistant_turn`, `invalid_message`, `invalid_tool` or `invalid_record`."""
    format: str = ""
    """The format the row was read as ('' when none fits)."""


@dataclass
class ReadResult:
    trajectories: list[Trajectory] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)

    def funnel(self) -> Funnel:
        f = Funnel("read_trajectories")
        for _ in self.trajectories:
            f.keep()
        for err in self.errors:
            f.drop(err.reason)
        return f

    def by_format(self) -> dict[str, dict[str, int]]:
        """format -> {read, unreadable} (unreadable rows of no known format under `?`)."""
        out: dict[str, dict[str, int]] = {}
        for t in self.trajectories:
            out.setdefault(t.source_format or "?", {"read": 0, "unreadable": 0})["read"] += 1
        for e in self.errors:
            out.setdefault(e.format or "?", {"read": 0, "unreadable": 0})["unreadable"] += 1
        return out

    def render(self, source: str = "", max_errors: int = 10) -> str:
        """Per-format counts and the first `max_errors` unreadable rows with their reason."""
        head = f"[read] {source}: " if source else "[read] "
        lines = [f"{head}{len(self.trajectories)} read, {len(self.errors)} unreadable"]
        for fmt, n in sorted(self.by_format().items()):
            what = FORMATS.get(fmt, "no known format")
            lines.append(f"  - {fmt} ({what}): {n['read']} read, {n['unreadable']} unreadable")
        for err in self.errors[:max_errors]:
            lines.append(f"  ! {err.where} [{err.reason}] {err.error[:300]}")
        if len(self.errors) > max_errors:
            lines.append(f"  ! ... {len(self.errors) - max_errors} more unreadable rows")
        return "\n".join(lines)


def row_instance_id(row: Any) -> str:
    """`instance_id`, else `id` (swe-play style rows), else '?'."""
    if isinstance(row, dict):
        for key in _ID_KEYS:
            if row.get(key) not in (None, ""):
                return str(row[key])
    return "?"


def detect_format(row: dict[str, Any]) -> str:
    """The reader for one row (raises TrajectoryFormatError with reason unknown_format)."""
    if row.get("format") == TRAJECTORY_FORMAT:
        return "swelego"
    if "conversations" in row:
        return "sharegpt"
    if isinstance(row.get("history"), list) or (
        "messages" not in row and is_event_list(row.get("trajectory"))
    ):
        return "openhands_events"
    messages = _json_field(row.get("messages", row.get("trajectory")))
    if not isinstance(messages, list):
        raise TrajectoryFormatError(
            "no `messages`, `trajectory`, `conversations` or `history` list "
            f"(columns: {sorted(row)[:12]})",
            "unknown_format",
        )
    dicts = [m for m in messages if isinstance(m, dict)]
    if any(m.get("role") == "ai" for m in dicts) or any(
        ("text" in m or "system_prompt" in m) and "content" not in m for m in dicts[:1]
    ):
        return "swe_agent"
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "assistant" and not m.get("tool_calls"):
            content = m.get("content")
            if isinstance(content, str) and has_text_tool_call(content):
                return "openhands_text"
            if isinstance(content, list) and any(
                isinstance(p, dict) and has_text_tool_call(str(p.get("text", ""))) for p in content
            ):
                return "openhands_text"
    return "openai"


def parse_trajectory(row: dict[str, Any], where: str = "row", fmt: str = "auto") -> Trajectory:
    """One row of any supported format -> Trajectory (raises TrajectoryFormatError)."""
    label = f"{where} (instance_id={row_instance_id(row)})"
    kind = ""
    try:
        if not isinstance(row, dict):
            raise TrajectoryFormatError(f"expected a JSON object, got {type(row).__name__}")
        kind = detect_format(row) if fmt == "auto" else fmt
        if kind not in FORMATS:
            raise TrajectoryFormatError(
                f"unknown format {kind!r}; known: auto, {', '.join(FORMATS)}", "unknown_format"
            )
        if kind == "swelego":
            data = dict(row)
            data["messages"] = _json_field(data.get("messages"))
            return Trajectory.model_validate(data)
        if kind == "openhands_events":
            return _build({**row, **openhands_event_row_fields(row)}, _events_of(row), kind)
        if kind == "sharegpt":
            messages = _sharegpt_messages(row)
        elif kind == "swe_agent":
            messages = swe_agent_messages(_json_field(row.get("trajectory", row.get("messages"))))
        else:
            raw = _json_field(row.get("messages", row.get("trajectory")))
            messages = _openai_messages(raw)
        return _build(row, messages, kind)
    except TrajectoryFormatError as exc:
        raise TrajectoryFormatError(f"{label}: {exc}", exc.reason, exc.fmt or kind) from exc
    except ToolCallParseError as exc:
        raise TrajectoryFormatError(f"{label}: {exc}", "invalid_tool", kind) from exc
    except ValidationError as exc:
        reason = "no_assistant_turn" if "assistant message" in str(exc) else "invalid_record"
        raise TrajectoryFormatError(f"{label}: {_short(exc)}", reason, kind) from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise TrajectoryFormatError(f"{label}: {type(exc).__name__}: {exc}", fmt=kind) from exc


def _events_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    events = _json_field(row.get("history", row.get("trajectory")))
    return openhands_event_messages(events)


def _build(row: dict[str, Any], messages: list[dict[str, Any]], kind: str) -> Trajectory:
    used = {"messages", "trajectory", "conversations", "system", "tools", "history"}
    used |= set(_ID_KEYS) | set(_PATCH_KEYS) | set(_MODEL_KEYS) | set(_LABEL_KEYS)
    meta = {k: v for k, v in row.items() if k not in used and not k.startswith("_")}
    dropped: set[str] = set()
    clean = [_clean_message(m, dropped) for m in messages]
    if dropped:
        meta["dropped_message_keys"] = sorted(dropped)
    tools = [_normalise_tool(t) for t in (_json_field(row.get("tools")) or [])]
    if kind in ("openhands_text", "swe_agent"):
        _parse_text_calls(clean, tools)
    instance_id = row_instance_id(row)
    if instance_id == "?":
        raise TrajectoryFormatError("no `instance_id` (or `id`) column", "invalid_record")
    return Trajectory(
        instance_id=instance_id,
        messages=clean,
        tools=tools,
        tool_call_format="text" if kind in ("openhands_text", "swe_agent") else "native",
        label=_label(row),
        patch=_patch(row),
        model=next((str(row[k]) for k in _MODEL_KEYS if row.get(k)), ""),
        source_format=kind,
        meta=meta,
    )


def _patch(row: dict[str, Any]) -> str:
    """The final patch: a patch column, else OpenHands' `test_result.git_patch`."""
    for key in _PATCH_KEYS:
        if isinstance(row.get(key), str) and row[key]:
            return row[key]
    test_result = row.get("test_result")
    if isinstance(test_result, dict) and isinstance(test_result.get("git_patch"), str):
        return test_result["git_patch"]
    return ""


def _clean_message(m: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    """Keep the keys a Message has; tool calls keep id/type/function{name, arguments}."""
    dropped.update(k for k, v in m.items() if k not in _MESSAGE_KEYS and v is not None)
    out = {k: v for k, v in m.items() if k in _MESSAGE_KEYS}
    calls = out.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [_clean_call(c, dropped) for c in calls]
    return out


def _clean_call(call: Any, dropped: set[str]) -> Any:
    if not isinstance(call, dict):
        return call  # the Message model reports it
    dropped.update(
        f"tool_calls.{k}" for k, v in call.items() if k not in _CALL_KEYS and v is not None
    )
    out = {k: v for k, v in call.items() if k in _CALL_KEYS}
    function = out.get("function")
    if isinstance(function, dict):
        dropped.update(
            f"tool_calls.function.{k}"
            for k, v in function.items()
            if k not in _FUNCTION_KEYS and v is not None
        )
        out["function"] = {k: v for k, v in function.items() if k in _FUNCTION_KEYS}
    return out


def _openai_messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise TrajectoryFormatError("`messages` must be a non-empty list", "invalid_message")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or "role" not in m:
            raise TrajectoryFormatError(
                f"message {i}: expected an object with a `role`", "invalid_message"
            )
        m = dict(m)
        m["role"] = _ROLE_ALIASES.get(m["role"], m["role"])
        try:
            Message.model_validate(_clean_message(m, set()))
        except ValidationError as exc:
            raise TrajectoryFormatError(f"message {i}: {_short(exc)}", "invalid_message") from exc
        out.append(m)
    return out


def _parse_text_calls(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    """Fill `tool_calls` of text-form assistant turns; malformed calls stay unparsed
    (the masking rules see them through the content). Calls a reader already filled in
    (SWE-agent code-block actions) are kept."""
    schema_tools = tools or list(TOOLS)
    for i, m in enumerate(messages):
        content = m.get("content")
        if m["role"] != "assistant" or m.get("tool_calls"):
            continue
        if isinstance(content, list):
            content = Message.model_validate({"role": "assistant", "content": content}).content
        if not isinstance(content, str):
            continue
        try:
            _, calls = parse_text_tool_calls(content)
        except ToolCallParseError:
            continue
        m["tool_calls"] = [
            {
                "id": f"call_{i}_{n}",
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": coerce_arguments(c.name, c.arguments, schema_tools),
                },
            }
            for n, c in enumerate(calls)
        ]


def _sharegpt_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    conv = _json_field(row.get("conversations"))
    if not isinstance(conv, list) or not conv:
        raise TrajectoryFormatError("`conversations` must be a non-empty list", "invalid_message")
    out: list[dict[str, Any]] = []
    if row.get("system"):
        out.append({"role": "system", "content": row["system"]})
    pending: list[str] = []  # ids of the last assistant turn's calls, for tool_call_id
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise TrajectoryFormatError(
                f"message {i}: expected an object with `from` and `value`", "invalid_message"
            )
        role = _SHAREGPT_ROLES.get(str(turn["from"]))
        if role is None:
            raise TrajectoryFormatError(
                f"message {i}: unknown role {turn['from']!r}; known: {sorted(_SHAREGPT_ROLES)}",
                "invalid_message",
            )
        extra = {k: v for k, v in turn.items() if k not in ("from", "value")}
        if role == "function_call":
            calls = _sharegpt_calls(turn["value"], i)
            pending = [c["id"] for c in calls]
            prev = out[-1] if out else None
            if prev and prev["role"] == "assistant" and not prev.get("tool_calls"):
                prev["tool_calls"] = calls  # gpt text + function_call = one assistant turn
                prev.update(extra)
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": calls, **extra})
            continue
        message = {"role": role, "content": turn["value"], **extra}
        if role == "tool" and pending:
            message["tool_call_id"] = pending.pop(0)
        if role == "assistant":
            pending = []
        out.append(message)
    return out


def _sharegpt_calls(value: Any, index: int) -> list[dict[str, Any]]:
    try:
        decoded = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise TrajectoryFormatError(
            f"message {index}: function_call is not JSON: {exc}", "invalid_tool"
        ) from exc
    items = decoded if isinstance(decoded, list) else [decoded]
    calls = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise TrajectoryFormatError(
                f"message {index}: function_call needs a `name`", "invalid_tool"
            )
        calls.append(
            {
                "id": f"call_{index}_{n}",
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments", {})},
            }
        )
    return calls


def _label(row: dict[str, Any]) -> Label | None:
    if row.get("label") not in (None, ""):
        return Label(row["label"])
    for key in ("resolved", "target"):
        value = row.get(key)
        if isinstance(value, bool) or value in (0, 1):  # SWE-rebench stores 0 / 1
            return Label.RESOLVED if value else Label.UNRESOLVED
    return None


def _normalise_tool(tool: Any) -> dict[str, Any]:
    """An OpenAI tool definition; nulls (absent struct fields in hub exports) removed and
    `parameters: null` (a tool without arguments, e.g. `finish`) made an empty schema."""
    if not isinstance(tool, dict):
        raise TrajectoryFormatError(
            f"a tool must be an object, got {str(tool)[:80]!r}", "invalid_tool"
        )
    tool = _drop_nulls(tool if "function" in tool else {"type": "function", "function": tool})
    function = tool.get("function")
    if not isinstance(function, dict) or not function.get("name"):
        raise TrajectoryFormatError(
            f"a tool needs function.name: {str(tool)[:80]!r}", "invalid_tool"
        )
    if not isinstance(function.get("parameters"), dict):
        function["parameters"] = {"type": "object", "properties": {}}
    tool.setdefault("type", "function")
    return tool


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise TrajectoryFormatError(
                f"a JSON-text column does not decode: {exc}", "invalid_record"
            ) from exc
    if hasattr(value, "tolist"):  # numpy arrays from Parquet readers
        return value.tolist()
    return value


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
    )


def read_trajectories(path: str | Path, fmt: str = "auto") -> ReadResult:
    """Read .jsonl / .json / .parquet; bad rows are collected in `errors`, never raised."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    return read_trajectory_bytes(path.read_bytes(), str(path), fmt)


def read_trajectory_bytes(raw: bytes, name: str, fmt: str = "auto") -> ReadResult:
    """Read a file's bytes; `name` (the user's path or URI) locates rows in the errors and
    its suffix picks the container (.parquet, .json, else JSON lines)."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown trajectory format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    result = ReadResult()
    for where, row in _rows(raw, name, result):
        try:
            result.trajectories.append(parse_trajectory(row, where, fmt))
        except TrajectoryFormatError as exc:
            result.errors.append(
                RecordError(where, row_instance_id(row), str(exc), exc.reason, exc.fmt)
            )
    return result


def _rows(raw: bytes, name: str, result: ReadResult) -> Iterable[tuple[str, Any]]:
    suffix = Path(name.split("?", 1)[0]).suffix
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(pa.BufferReader(raw)).to_pylist()):
            yield f"{name}:row {i}", row
    elif suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            result.errors.append(RecordError(name, "?", f"not JSON: {exc}", "not_json"))
            return
        if is_event_list(data):  # one OpenHands trajectory saved as its event list
            data = [{"instance_id": Path(name).stem, "history": data}]
        for i, row in enumerate(data if isinstance(data, list) else [data]):
            yield f"{name}:item {i}", row
    else:
        for lineno, line in enumerate(io.TextIOWrapper(io.BytesIO(raw), "utf-8"), 1):
            if not line.strip():
                continue
            try:
                yield f"{name}:{lineno}", json.loads(line)
            except json.JSONDecodeError as exc:
                result.errors.append(
                    RecordError(f"{name}:{lineno}", "?", f"not JSON: {exc}", "not_json")
                )


def to_sharegpt(trajectory: Trajectory) -> dict[str, Any]:
    """The record as a LLaMA-Factory ShareGPT row (`conversations: [{from, value}]`, the
    system prompt and tools apart; native calls as `function_call` turns). Each assistant
    turn keeps its `turn_mask` slot; the `sharegpt` reader reads the row back."""
    system = ""
    conversations: list[dict[str, Any]] = []
    for m in trajectory.messages:
        if m.role == "system" and not conversations:
            system = m.content
            continue
        if m.role == "assistant":
            mask = {"turn_mask": m.turn_mask} if m.turn_mask is not None else {}
            native = trajectory.tool_call_format == "native" and m.tool_calls
            if m.content or not native:
                conversations.append({"from": "gpt", "value": m.content, **mask})
            if native:
                calls = [
                    {"name": c.function.name, "arguments": json.loads(c.function.arguments)}
                    if _is_json_object(c.function.arguments)
                    else {"name": c.function.name, "arguments": c.function.arguments}
                    for c in m.tool_calls
                ]
                value = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
                conversations.append({"from": "function_call", "value": value, **mask})
            continue
        role = {"user": "human", "tool": "observation", "system": "system"}[m.role]
        conversations.append({"from": role, "value": m.content})
    row: dict[str, Any] = {
        "instance_id": trajectory.instance_id,
        "conversations": conversations,
        "system": system,
        "tools": json.dumps(trajectory.tools, ensure_ascii=False),
    }
    if trajectory.label is not None:
        row["label"] = trajectory.label.value
    return row


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def write_trajectories(trajectories: Iterable[Trajectory], path: str | Path) -> Path:
    """Write records (JSONL, or Parquet with nested fields as JSON text); atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [t.model_dump(mode="json") for t in trajectories]
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for row in rows:
            for key in ("messages", "tools", "config", "meta"):
                row[key] = json.dumps(row[key], ensure_ascii=False)
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    else:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(path)
    return path


__all__ = [
    "EVENT_KEYS",
    "FORMATS",
    "ReadResult",
    "RecordError",
    "TrajectoryFormatError",
    "detect_format",
    "parse_trajectory",
    "read_trajectories",
    "read_trajectory_bytes",
    "row_instance_id",
    "write_trajectories",
]
