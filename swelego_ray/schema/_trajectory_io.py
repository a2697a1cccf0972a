"""Trajectory readers for real public formats, and a lossless JSONL/Parquet writer.

Row formats (detected per row, or forced with `fmt=`):
- `swelego`: this project's own record (has `format: swelego.trajectory/1`).
- `openai`: `messages` (or `trajectory`) in OpenAI chat format with native `tool_calls`
  (SWE-smith, SWE-Gym, nebius SWE-rebench-openhands, nvidia SWE-Zero dumps). Messages may
  be a JSON string; content may be a list of text parts; arguments may be a dict.
- `openhands_text`: the same shape, but calls written in the assistant text as
  `<function=NAME><parameter=ARG>value</parameter></function>` (OpenHands CodeAct without
  native function calling); they are parsed into `tool_calls` for analysis.
- `sharegpt`: LLaMA-Factory `conversations: [{from, value}]` with roles human / gpt /
  function_call / observation / system, optional `system` and `tools` columns.
Common columns: instance_id; patch | model_patch | generated_patch; label | resolved |
target (bool); model | model_name; tools. Unknown columns go to `meta`; message keys this
record has no field for are listed in `meta["dropped_message_keys"]`.

A bad row never aborts a file: it is returned in `ReadResult.errors` with its location.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swelego_ray.funnel import Funnel
from swelego_ray.schema._trajectory import TRAJECTORY_FORMAT, Label, Message, Trajectory
from swelego_ray.schema.tool_calls import (
    ToolCallParseError,
    coerce_arguments,
    has_text_tool_call,
    parse_text_tool_calls,
)
from swelego_ray.schema.tools_schema import TOOLS

FORMATS = ("swelego", "openai", "openhands_text", "sharegpt")
_MESSAGE_KEYS = set(Message.model_fields)
_PATCH_KEYS = ("patch", "model_patch", "generated_patch", "final_patch")
_MODEL_KEYS = ("model", "model_name")
_LABEL_KEYS = ("label", "resolved", "target")
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
    """A trajectory row that cannot be read; the message names the row and the problem."""


@dataclass
class RecordError:
    where: str
    instance_id: str
    error: str
    reason: str = "invalid_record"
    """`not_json` (the line does not decode) or `invalid_record` (it does not fit a format)."""


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


def detect_format(row: dict[str, Any]) -> str:
    if row.get("format") == TRAJECTORY_FORMAT:
        return "swelego"
    if "conversations" in row:
        return "sharegpt"
    messages = _json_field(row.get("messages", row.get("trajectory")))
    if not isinstance(messages, list):
        raise TrajectoryFormatError("no `messages`, `trajectory` or `conversations` list")
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "assistant" and not m.get("tool_calls"):
            content = m.get("content")
            if isinstance(content, str) and has_text_tool_call(content):
                return "openhands_text"
    return "openai"


def parse_trajectory(row: dict[str, Any], where: str = "row", fmt: str = "auto") -> Trajectory:
    """One row of any supported format -> Trajectory (raises TrajectoryFormatError)."""
    iid = str(row.get("instance_id", "?")) if isinstance(row, dict) else "?"
    label = f"{where} (instance_id={iid})"
    try:
        if not isinstance(row, dict):
            raise TrajectoryFormatError(f"expected a JSON object, got {type(row).__name__}")
        kind = detect_format(row) if fmt == "auto" else fmt
        if kind not in FORMATS:
            raise TrajectoryFormatError(f"unknown format {kind!r}; known: {FORMATS}")
        if kind == "swelego":
            data = dict(row)
            data["messages"] = _json_field(data.get("messages"))
            return Trajectory.model_validate(data)
        if kind == "sharegpt":
            messages = _sharegpt_messages(row)
        else:
            raw = _json_field(row.get("messages", row.get("trajectory")))
            messages = _openai_messages(raw)
        return _build(row, messages, kind)
    except (ValidationError, ValueError, TypeError) as exc:
        raise TrajectoryFormatError(f"{label}: {exc}") from exc


def _build(row: dict[str, Any], messages: list[dict[str, Any]], kind: str) -> Trajectory:
    used = {"messages", "trajectory", "conversations", "system", "tools", "instance_id"}
    used |= set(_PATCH_KEYS) | set(_MODEL_KEYS) | set(_LABEL_KEYS)
    meta = {k: v for k, v in row.items() if k not in used}
    dropped = sorted(
        {k for m in messages for k, v in m.items() if k not in _MESSAGE_KEYS and v is not None}
    )
    if dropped:
        meta["dropped_message_keys"] = dropped
    clean = [{k: v for k, v in m.items() if k in _MESSAGE_KEYS} for m in messages]
    tools = [_wrap_tool(t) for t in (_json_field(row.get("tools")) or [])]
    if kind == "openhands_text":
        _parse_text_calls(clean, tools)
    return Trajectory(
        instance_id=str(row.get("instance_id", "")),
        messages=clean,
        tools=tools,
        tool_call_format="text" if kind == "openhands_text" else "native",
        label=_label(row),
        patch=next((row[k] for k in _PATCH_KEYS if row.get(k)), "") or "",
        model=next((str(row[k]) for k in _MODEL_KEYS if row.get(k)), ""),
        source_format=kind,
        meta=meta,
    )


def _openai_messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise TrajectoryFormatError("`messages` must be a non-empty list")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or "role" not in m:
            raise TrajectoryFormatError(f"message {i}: expected an object with a `role`")
        m = dict(m)
        if m["role"] == "function":  # legacy OpenAI role for tool results
            m["role"] = "tool"
        try:
            Message.model_validate({k: v for k, v in m.items() if k in _MESSAGE_KEYS})
        except ValidationError as exc:
            raise TrajectoryFormatError(f"message {i}: {_short(exc)}") from exc
        out.append(m)
    return out


def _parse_text_calls(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    """Fill `tool_calls` of text-form assistant turns; malformed calls stay unparsed
    (the masking rules see them through the content)."""
    schema_tools = tools or list(TOOLS)
    for i, m in enumerate(messages):
        content = m.get("content")
        if m["role"] != "assistant" or not isinstance(content, str):
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
        raise TrajectoryFormatError("`conversations` must be a non-empty list")
    out: list[dict[str, Any]] = []
    if row.get("system"):
        out.append({"role": "system", "content": row["system"]})
    pending: list[str] = []  # ids of the last assistant turn's calls, for tool_call_id
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise TrajectoryFormatError(f"message {i}: expected an object with `from` and `value`")
        role = _SHAREGPT_ROLES.get(str(turn["from"]))
        if role is None:
            raise TrajectoryFormatError(
                f"message {i}: unknown role {turn['from']!r}; known: {sorted(_SHAREGPT_ROLES)}"
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
        raise TrajectoryFormatError(f"message {index}: function_call is not JSON: {exc}") from exc
    items = decoded if isinstance(decoded, list) else [decoded]
    calls = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise TrajectoryFormatError(f"message {index}: function_call needs a `name`")
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
        if isinstance(row.get(key), bool):
            return Label.RESOLVED if row[key] else Label.UNRESOLVED
    return None


def _wrap_tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise TrajectoryFormatError(f"a tool must be an object, got {str(tool)[:80]!r}")
    return tool if "function" in tool else {"type": "function", "function": tool}


def _json_field(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise TrajectoryFormatError(f"a JSON-text column does not decode: {exc}") from exc
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
    if not path.exists():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    result = ReadResult()
    for where, row in _rows(path, result):
        try:
            result.trajectories.append(parse_trajectory(row, where, fmt))
        except TrajectoryFormatError as exc:
            iid = str(row.get("instance_id", "?")) if isinstance(row, dict) else "?"
            result.errors.append(RecordError(where, iid, str(exc)))
    return result


def _rows(path: Path, result: ReadResult) -> Iterable[tuple[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}:row {i}", row
    elif path.suffix == ".json":
        for i, row in enumerate(json.loads(path.read_text())):
            yield f"{path}:item {i}", row
    else:
        with path.open() as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    result.errors.append(
                        RecordError(f"{path}:{lineno}", "?", f"not JSON: {exc}", "not_json")
                    )


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
