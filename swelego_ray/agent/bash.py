"""`execute_bash` on a persistent shell session (OpenHands semantics, see sandbox._session).

- a command runs in the session's shell: cwd, variables and background jobs persist;
- without `timeout`, the call returns when the command ends or has printed nothing for
  `idle_s`; with it, after `timeout` seconds; a command still running is reported so and
  keeps running;
- `is_input=true`: an empty command waits for more output, `C-c` interrupts, other text
  goes to the running command's standard input;
- a new command while one runs is refused, not queued;
- the hard limit (`hard_timeout_s`) kills the command; the output shown is truncated head
  and tail at `max_chars`.
"""

from __future__ import annotations

from dataclasses import dataclass

from swelego_ray.agent.calls import ToolCall
from swelego_ray.agent.observations import (
    format_bash_observation,
    format_not_executed,
    format_running_observation,
    format_timeout_observation,
    truncate_middle,
)
from swelego_ray.sandbox import SessionResult, ShellSession
from swelego_ray.schema.tools_schema import EXECUTE_BASH

_KEYS = {"C-c"}


@dataclass
class BashTool:
    """execute_bash on `session`."""

    session: ShellSession
    idle_s: float = 30.0
    hard_timeout_s: float | None = None  # default: the sandbox's Limits.timeout_s
    max_chars: int = 30_000
    name: str = EXECUTE_BASH

    def run(self, call: ToolCall) -> str:
        args = call.arguments
        command = str(args.get("command", ""))
        is_input = args.get("is_input") in (True, "true", "True")
        timeout = _seconds(args.get("timeout"))
        if is_input:
            return self._input(command, timeout)
        if self.session.running:
            if command.strip():
                return format_not_executed(command)
            return self._show(self.session.wait(timeout, None if timeout else self.idle_s), timeout)
        if not command.strip():
            return "ERROR: No previous running command to retrieve logs from."
        result = self.session.run(
            command, timeout_s=timeout, idle_s=self.idle_s, hard_timeout_s=self.hard_timeout_s
        )
        return self._show(result, timeout)

    def _input(self, text: str, timeout: float | None) -> str:
        if not self.session.running:
            return "ERROR: No previous running command to interact with."
        if text == "":
            return self._show(self.session.wait(timeout, None if timeout else self.idle_s), timeout)
        if text in _KEYS:
            return self._show(self.session.interrupt(), timeout)
        if len(text) == 3 and text.startswith("C-"):
            return f'ERROR: key "{text}" is not supported here; send "C-c" to interrupt.'
        return self._show(self.session.send_input(text, timeout_s=timeout), timeout)

    def _show(self, result: SessionResult, timeout: float | None) -> str:
        output = truncate_middle(result.output, self.max_chars)
        notes = []
        if result.oom:
            notes.append("[The command was killed: out of memory.]")
        if result.restarted:
            notes.append(f"[{result.restarted}.]")
        if notes:
            output = output + ("" if output.endswith("\n") or not output else "\n")
            output += "\n".join(notes)
        if result.running:
            seconds = timeout if timeout and not result.idle else self.idle_s
            return format_running_observation(output, seconds, idle=result.idle)
        if result.timed_out:
            hard = self.hard_timeout_s or self.session.limits.timeout_s
            return format_timeout_observation(output, hard)
        return format_bash_observation(output, -1 if result.exit_code is None else result.exit_code)


def _seconds(value: object) -> float | None:
    """A positive timeout in seconds, or None (absent, zero, or not a number)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
