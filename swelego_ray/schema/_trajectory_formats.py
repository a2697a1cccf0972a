"""Readers for the two public formats that are not chat messages already.

SWE-agent logs (nebius SWE-agent-trajectories): `trajectory: [{role, text, mask,
system_prompt}]` with roles system / user / ai. The system turn's text is in
`system_prompt`. An `ai` turn is a DISCUSSION followed by ONE fenced code block, the
command (a shell command or a SWE-agent command such as `open`, `edit`, `submit`); it is
parsed into a call named after the SWE-agent command (`bash` for anything else) with the
whole block as `command`, for the masking rules; the text is trained verbatim
(`tool_call_format: text`). Observations are the following `user` turns. Their `mask`
means "this turn is a training target" (true on every `ai` turn), the opposite of this
project's `turn_mask`: an `ai` turn with `mask: false` becomes `turn_mask: true` (no
loss); `mask: true` leaves the decision to the error-masking rules.

OpenHands event histories (`history` of an evaluation's output.jsonl, or a saved event
list). Two layouts:
- V0 (`action` / `observation` strings, `args`, `extras`, `cause`,
  `tool_call_metadata`): with native function calling, the assistant turn is the LLM
  response stored in `tool_call_metadata.model_response` (one turn per response, however
  many calls it made), and each observation answers its `tool_call_id`; without it, the
  call is rebuilt from the action (`run` -> execute_bash, `edit`/`read` ->
  str_replace_editor, `think`, `finish`, `run_ipython` -> execute_ipython_cell) and the
  observation answers the action named by `cause`. Command output is rendered as
  OpenHands shows it to the model: prefix + content + suffix, and the exit code.
- V1 SDK (`kind`: SystemPromptEvent, MessageEvent, ActionEvent, ObservationEvent,
  AgentErrorEvent, UserRejectObservation): action events of one LLM response
  (`llm_response_id`) form one assistant turn; an observation with `is_error` and no exit
  code is shown as `ERROR:` + its text (how the rules recognise a failed editor call).
State changes, recalls, condensations and other bookkeeping events are skipped.
"""

from __future__ import annotations

import json
import re
from typing import Any

EVENT_KEYS = frozenset({"action", "observation", "kind"})
"""A dict with one of these keys (and no `role`) is an OpenHands event."""

SWE_AGENT_COMMANDS = frozenset(
    {"open", "goto", "scroll_up", "scroll_down", "create", "edit", "insert", "submit",
     "search_dir", "search_file", "find_file", "filemap", "str_replace_editor"}
)  # fmt: skip
_FENCE_RE = re.compile(r"```[^\n`]*\n(.*?)\n?```", re.DOTALL)
_SWE_AGENT_ROLES = {"system": "system", "user": "user", "human": "user", "ai": "assistant",
                    "assistant": "assistant", "tool": "tool"}  # fmt: skip

_V0_SKIP = {"recall", "change_agent_state", "agent_state_changed", "condensation", "null",
            "delegate", "agent_condensation", "mcp_recall", "loop_recovery"}  # fmt: skip
_V0_TOOLS = {"run": "execute_bash", "edit": "str_replace_editor", "read": "str_replace_editor",
             "think": "think", "finish": "finish", "run_ipython": "execute_ipython_cell",
             "browse": "browser", "browse_interactive": "browser"}  # fmt: skip
_V0_ARGS = {
    "run": ("command", "is_input", "timeout"),
    "edit": ("command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"),
    "read": ("path", "view_range"),
    "think": ("thought",),
    "run_ipython": ("code",),
    "browse": ("url",),
    "browse_interactive": ("browser_actions",),
}


def is_event_list(value: Any) -> bool:
    """A non-empty list whose dicts are OpenHands events (not chat messages)."""
    if not isinstance(value, list) or not value:
        return False
    dicts = [v for v in value if isinstance(v, dict)]
    return bool(dicts) and all(EVENT_KEYS & v.keys() and "role" not in v for v in dicts)


# -- SWE-agent -----------------------------------------------------------------------------
def swe_agent_messages(raw: Any) -> list[dict[str, Any]]:
    """SWE-agent `[{role, text, mask, system_prompt}]` -> chat messages (see module doc)."""
    from swelego_ray.schema._trajectory_io import TrajectoryFormatError

    if not isinstance(raw, list) or not raw:
        raise TrajectoryFormatError("`trajectory` must be a non-empty list", "invalid_message")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise TrajectoryFormatError(f"message {i}: expected an object", "invalid_message")
        if item.get("tool_calls"):  # forcing swe_agent would drop them silently
            raise TrajectoryFormatError(
                f"message {i}: native `tool_calls`: an OpenAI-messages row, not a SWE-agent "
                "log (read it as openai)",
                "invalid_message",
            )
        role = _SWE_AGENT_ROLES.get(str(item.get("role")))
        if role is None:
            raise TrajectoryFormatError(
                f"message {i}: unknown role {item.get('role')!r}; "
                f"known: {sorted(_SWE_AGENT_ROLES)}",
                "invalid_message",
            )
        text = item.get("text")
        if text is None:
            text = item.get("system_prompt") if role == "system" else item.get("content")
        message: dict[str, Any] = {"role": role, "content": text or ""}
        if role == "assistant":
            if item.get("mask") is False:
                message["turn_mask"] = True
                message["mask_reason"] = "mask=false in the data (not a training target)"
            command = swe_agent_action(message["content"])
            if command is not None:
                message["tool_calls"] = [_call(f"call_{i}", _command_name(command),
                                               {"command": command})]  # fmt: skip
        out.append(message)
    return out


def swe_agent_action(text: str) -> str | None:
    """The command of a SWE-agent turn: its last fenced code block (None if it has none)."""
    blocks = _FENCE_RE.findall(text)
    return blocks[-1].strip() if blocks else None


def _command_name(command: str) -> str:
    first = command.split(None, 1)[0] if command.strip() else ""
    return first if first in SWE_AGENT_COMMANDS else "bash"


def _call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- OpenHands events -------------------------------------------------------------------------
def openhands_event_messages(events: Any) -> list[dict[str, Any]]:
    """An OpenHands event list -> chat messages (see module doc)."""
    from swelego_ray.schema._trajectory_io import TrajectoryFormatError

    if not is_event_list(events):
        raise TrajectoryFormatError(
            "`history` must be a non-empty list of OpenHands events", "invalid_message"
        )
    state = _EventState()
    for event in events:
        if not isinstance(event, dict):
            continue
        if "kind" in event:
            _v1_event(event, state)
        elif isinstance(event.get("action"), str):
            _v0_action(event, state)
        elif isinstance(event.get("observation"), str):
            _v0_observation(event, state)
    return state.messages


class _EventState:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.responses: set[str] = set()
        self.call_of_event: dict[Any, tuple[str, str]] = {}  # action event id -> (call id, tool)
        self.last_response: str | None = None


def _v0_action(event: dict[str, Any], state: _EventState) -> None:
    action, args = event["action"], event.get("args") or {}
    if action in _V0_SKIP:
        return
    if action == "system":
        state.messages.append({"role": "system", "content": _text(args.get("content"))})
        return
    if action == "message":
        role = "user" if event.get("source") == "user" else "assistant"
        content = _text(args.get("content")) or _text(event.get("message"))
        state.messages.append({"role": role, "content": content})
        return
    meta = event.get("tool_call_metadata") or {}
    response = meta.get("model_response") or {}
    if meta.get("tool_call_id") and response:
        state.call_of_event[event.get("id")] = (meta["tool_call_id"], meta.get("function_name", ""))
        rid = str(response.get("id") or meta["tool_call_id"])
        if rid in state.responses:
            return  # one more call of a response already added
        state.responses.add(rid)
        choice = ((response.get("choices") or [{}])[0] or {}).get("message") or {}
        calls = choice.get("tool_calls") or [
            _call(
                meta["tool_call_id"], meta.get("function_name", action), _v0_arguments(action, args)
            )
        ]
        state.messages.append(
            {"role": "assistant", "content": _text(choice.get("content")), "tool_calls": calls}
        )
        return
    call_id = f"call_{event.get('id', len(state.messages))}"
    tool = _V0_TOOLS.get(action, action)
    state.call_of_event[event.get("id")] = (call_id, tool)
    arguments = _v0_arguments(action, args)
    thought = _text(args.get("thought")) if action != "think" else ""
    state.messages.append(
        {"role": "assistant", "content": thought, "tool_calls": [_call(call_id, tool, arguments)]}
    )


def _v0_arguments(action: str, args: dict[str, Any]) -> dict[str, Any]:
    if action == "finish":
        return {"message": _text(args.get("final_thought") or args.get("outputs") or "")}
    keys = _V0_ARGS.get(action)
    picked = {k: args[k] for k in keys if args.get(k) not in (None, "")} if keys else dict(args)
    if action == "read":
        picked["command"] = "view"
    if action != "think":
        picked.pop("thought", None)  # the thought is the turn's text, not an argument
    return picked


def _v0_observation(event: dict[str, Any], state: _EventState) -> None:
    kind = event["observation"]
    if kind in _V0_SKIP:
        return
    meta = event.get("tool_call_metadata") or {}
    call_id, name = meta.get("tool_call_id"), meta.get("function_name")
    if not call_id and event.get("cause") in state.call_of_event:
        call_id, name = state.call_of_event[event["cause"]]
    text = _v0_observation_text(kind, event)
    if call_id:
        state.messages.append(
            {"role": "tool", "content": text, "tool_call_id": call_id, "name": name or None}
        )
    elif state.messages:  # e.g. an error with no action behind it: the agent reads it
        state.messages.append({"role": "user", "content": text})


def _v0_observation_text(kind: str, event: dict[str, Any]) -> str:
    content = _text(event.get("content"))
    extras = event.get("extras") or {}
    if kind not in ("run", "run_ipython"):
        return content
    meta = extras.get("metadata") or {}
    text = f"{meta.get('prefix') or ''}{content}{meta.get('suffix') or ''}"
    code = meta.get("exit_code", extras.get("exit_code"))
    if isinstance(code, int) and code != -1 and "exit code" not in text[-120:]:
        text += f"\n[The command completed with exit code {code}.]"
    return text


def _v1_event(event: dict[str, Any], state: _EventState) -> None:
    kind = event["kind"]
    if kind == "SystemPromptEvent":
        state.messages.append({"role": "system", "content": _text(event.get("system_prompt"))})
    elif kind == "MessageEvent":
        message = event.get("llm_message") or {}
        role = message.get("role") or ("user" if event.get("source") == "user" else "assistant")
        state.messages.append({"role": role, "content": _text(message.get("content"))})
        state.last_response = None
    elif kind == "ActionEvent":
        _v1_action(event, state)
    elif kind in ("ObservationEvent", "AgentErrorEvent", "UserRejectObservation"):
        observation = event.get("observation") or {}
        text = _text(observation.get("content"))
        if kind == "AgentErrorEvent":
            text = f"ERROR: {_text(event.get('error'))}"
        elif kind == "UserRejectObservation":
            text = _text(event.get("rejection_reason")) or "The user rejected this action."
        elif isinstance(observation.get("exit_code"), int) and observation["exit_code"] != -1:
            text += f"\n[The command completed with exit code {observation['exit_code']}.]"
        elif observation.get("is_error") and not text.startswith("ERROR"):
            text = f"ERROR:\n{text}"
        state.messages.append({"role": "tool", "content": text,
                               "tool_call_id": event.get("tool_call_id") or "",
                               "name": event.get("tool_name")})  # fmt: skip


def _v1_action(event: dict[str, Any], state: _EventState) -> None:
    tool_call = event.get("tool_call") or {}
    call_id = str(event.get("tool_call_id") or tool_call.get("id") or f"call_{len(state.messages)}")
    name = event.get("tool_name") or tool_call.get("name") or "unknown"
    arguments = tool_call.get("arguments")
    if arguments is None:
        action = event.get("action") or {}
        arguments = {k: v for k, v in action.items() if k != "kind" and v is not None}
    call = _call(call_id, name, arguments)
    rid = event.get("llm_response_id")
    last = state.messages[-1] if state.messages else None
    if rid and rid == state.last_response and last and last["role"] == "assistant":
        last["tool_calls"].append(call)  # a parallel call of the same response
        return
    thought = _text(event.get("thought")) or _text(event.get("reasoning_content"))
    state.messages.append({"role": "assistant", "content": thought, "tool_calls": [call]})
    state.last_response = rid


def _text(value: Any) -> str:
    """Strings, {text} dicts and lists of them, joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("text", ""))
    if isinstance(value, list):
        return "".join(_text(v) for v in value)
    return json.dumps(value)


def openhands_event_row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """Label, patch and model of an OpenHands evaluation row (output.jsonl)."""
    out: dict[str, Any] = {}
    test_result = row.get("test_result") if isinstance(row.get("test_result"), dict) else {}
    report = row.get("report") if isinstance(row.get("report"), dict) else {}
    report = report or (
        test_result.get("report") if isinstance(test_result.get("report"), dict) else {}
    )
    if "resolved" not in row and isinstance(report.get("resolved"), bool):
        out["resolved"] = report["resolved"]
    if not row.get("patch") and isinstance(test_result.get("git_patch"), str):
        out["patch"] = test_result["git_patch"]
    metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    llm = metadata.get("llm_config") if isinstance(metadata.get("llm_config"), dict) else {}
    model = llm.get("model") or metadata.get("model")
    if not row.get("model") and model:
        out["model"] = str(model)
    instance = row.get("instance") if isinstance(row.get("instance"), dict) else {}
    if not row.get("instance_id") and instance.get("instance_id"):
        out["instance_id"] = instance["instance_id"]
    return out
