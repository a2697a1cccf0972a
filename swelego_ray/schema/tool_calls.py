"""Tool-call parsing shared by the rollout loop and the trajectory readers.

Two wire forms (those of the SWE-Lego trajectories, OpenHands CodeAct):
- native: OpenAI `tool_calls` whose `arguments` is a JSON object (as text or a dict);
- text (OpenHands CodeAct without function calling), one call per turn:
      <function=execute_bash>
      <parameter=command>ls -la</parameter>
      </function>
  The model is stopped at `</function`, so a missing closing tag at the end of the text is
  accepted. One newline right after `<parameter=...>` and one right before
  `</parameter>` are layout and are removed; all other whitespace is kept verbatim.
Text values are strings; `coerce_arguments` converts them to the types the tool's JSON
schema declares (integer, number, boolean, array, object).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from swelego_ray.schema.tools_schema import TOOLS, schema_by_name

_FUNCTION_RE = re.compile(r"<function=([^>\n]*)>(.*?)(?:</function>|\Z)", re.DOTALL)
_PARAM_RE = re.compile(r"<parameter=([^>\n]*)>(.*?)</parameter>", re.DOTALL)
_OPEN_PARAM_RE = re.compile(r"<parameter=")


class ToolCallParseError(ValueError):
    """A tool call that cannot be turned into (name, arguments); says what is wrong."""


class ParsedCall(NamedTuple):
    """One tool call: the function name and its decoded arguments."""

    name: str
    arguments: dict[str, Any]


def has_text_tool_call(text: str) -> bool:
    """Whether `text` contains a text-form call (well-formed or not)."""
    return "<function=" in text


def parse_text_tool_calls(text: str) -> tuple[str, list[ParsedCall]]:
    """Split assistant text into (the prose before the first call, the parsed calls).

    Raises ToolCallParseError for an empty function name, a duplicate parameter, or a
    `<parameter=` that is never closed.
    """
    matches = list(_FUNCTION_RE.finditer(text))
    if not matches:
        return text, []
    calls = []
    for n, match in enumerate(matches):
        name, body = match.group(1).strip(), match.group(2)
        if not name:
            raise ToolCallParseError(f"call {n}: empty function name in <function=...>")
        args: dict[str, Any] = {}
        for pm in _PARAM_RE.finditer(body):
            key = pm.group(1).strip()
            if key in args:
                raise ToolCallParseError(f"call {n} ({name}): parameter {key!r} given twice")
            args[key] = _strip_layout(pm.group(2))
        if len(_OPEN_PARAM_RE.findall(body)) != len(_PARAM_RE.findall(body)):
            raise ToolCallParseError(f"call {n} ({name}): a <parameter=...> is never closed")
        calls.append(ParsedCall(name, args))
    return text[: matches[0].start()].rstrip(), calls


def _strip_layout(value: str) -> str:
    value = value.removeprefix("\n")
    return value.removesuffix("\n")


def render_text_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """The text form of one call (inverse of `parse_text_tool_calls` for string values)."""
    parts = [f"<function={name}>"]
    for key, value in arguments.items():
        text = value if isinstance(value, str) else json.dumps(value)
        # a value that starts/ends with a newline gets one layout newline more, which the
        # parser removes again, so the round trip is exact
        lead = "\n" if text.startswith("\n") else ""
        trail = "\n" if text.endswith("\n") else ""
        parts.append(f"<parameter={key}>{lead}{text}{trail}</parameter>")
    parts.append("</function>")
    return "\n".join(parts)


def parse_arguments(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    """Decode native-call arguments (JSON text or an already decoded dict) to a dict."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise ToolCallParseError(f"arguments are not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ToolCallParseError(f"arguments must be a JSON object, got {type(value).__name__}")
    return value


_JSON_TYPES: dict[str, Any] = {
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def coerce_arguments(
    name: str, arguments: dict[str, Any], tools: list[dict] | tuple[dict, ...] = TOOLS
) -> dict[str, Any]:
    """Convert text-form string values to the types declared in the tool's schema.

    Values that do not convert are left as they are (`validate_call` reports them).
    """
    props = schema_by_name(tools).get(name, {}).get("properties", {})
    out = dict(arguments)
    for key, value in arguments.items():
        kind = props.get(key, {}).get("type")
        if isinstance(value, str) and kind in _JSON_TYPES:
            converted = _convert(value, kind)
            if converted is not None:
                out[key] = converted
    return out


def _convert(value: str, kind: str) -> Any:
    text = value.strip()
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower())
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return None
    ok = isinstance(decoded, _JSON_TYPES[kind]) and not isinstance(decoded, bool)
    return decoded if ok else None


def validate_call(
    name: str, arguments: dict[str, Any], tools: list[dict] | tuple[dict, ...] = TOOLS
) -> list[str]:
    """Problems with a call against the tools' schemas ([] = a valid call)."""
    schemas = schema_by_name(tools)
    if name not in schemas:
        return [f"unknown tool {name!r} (known: {sorted(schemas)})"]
    params = schemas[name]
    props = params.get("properties", {})
    problems = [
        f"missing required parameter {key!r}"
        for key in params.get("required", [])
        if key not in arguments
    ]
    for key, value in arguments.items():
        if key not in props:
            problems.append(f"unknown parameter {key!r}")
            continue
        spec = props[key]
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"parameter {key!r}={value!r} is not one of {spec['enum']}")
        kind = spec.get("type", "")
        if kind in _JSON_TYPES and not _is_type(value, kind):
            problems.append(f"parameter {key!r} should be of type {kind}")
    return problems


def _is_type(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[kind]) and not isinstance(value, bool)
