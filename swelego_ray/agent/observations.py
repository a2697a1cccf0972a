"""The observation texts the agent loop emits, and the patterns that read them back.

The rollout formats every tool result with these functions, and the SFT error-masking
rules (swelego_ray.sft.masking) recognise them; the patterns also accept the OpenHands
wording found in public trajectory dumps.
"""

from __future__ import annotations

import re

MALFORMED_CALL_PREFIX = "ERROR: could not run your tool call"
"""Start of the observation the loop returns for an unparsable or invalid call."""

EXIT_CODE_RE = re.compile(
    r"\[(?:The command completed with exit code|Command finished with exit code|"
    r"Exit code:?)\s*(-?\d+)\.?\]\s*\Z"
)
TIMEOUT_RE = re.compile(
    r"\[The command timed out after [\d.]+ seconds|\[The command has no new output after"
    r"|Command timed out after|TimeoutExpired"
)


def format_bash_observation(output: str, exit_code: int) -> str:
    """Command output followed by its exit code on a last line (OpenHands wording)."""
    body = output if output.endswith("\n") or not output else output + "\n"
    return f"{body}[The command completed with exit code {exit_code}.]"


def format_timeout_observation(output: str, seconds: float) -> str:
    body = output if output.endswith("\n") or not output else output + "\n"
    return f"{body}[The command timed out after {seconds:g} seconds and was stopped.]"


def format_malformed_call(problem: str) -> str:
    """What the agent sees after a call that cannot run (bad JSON, unknown tool, ...)."""
    return (
        f"{MALFORMED_CALL_PREFIX}: {problem}\n"
        "Call exactly one of the available tools with valid arguments."
    )


def exit_code_of(observation: str) -> int | None:
    """The exit code a bash observation ends with, or None if it carries none."""
    match = EXIT_CODE_RE.search(observation.rstrip())
    return int(match.group(1)) if match else None


_RESULT_HEADER_RE = re.compile(r"\AEXECUTION RESULT of \[[^\]\n]+\]:\n")


def strip_result_header(observation: str) -> str:
    """Drop the `EXECUTION RESULT of [tool]:` line OpenHands puts before text-mode results."""
    return _RESULT_HEADER_RE.sub("", observation, count=1)


def format_running_observation(output: str, seconds: float, *, idle: bool) -> str:
    """A command past its soft timeout, still running (OpenHands wording)."""
    body = output if output.endswith("\n") or not output else output + "\n"
    what = (
        f"The command has no new output after {seconds:g} seconds."
        if idle
        else f"The command timed out after {seconds:g} seconds."
    )
    return (
        f"{body}[{what} It is still running. You may wait longer to see additional output "
        "by sending an empty command '' with is_input=true, send other text to interact "
        'with it (is_input=true), or send the key "C-c" (is_input=true) to interrupt it.]'
    )


def format_not_executed(command: str) -> str:
    """A new command sent while the previous one still runs (OpenHands wording)."""
    return (
        f'[Your command "{command}" is NOT executed. The previous command is still running '
        "- You CANNOT send new commands until the previous command is completed. By setting "
        "`is_input` to `true`, you can interact with the current process: send an empty "
        "command '' to see more of its output, send text to it, or send the key \"C-c\" to "
        "interrupt it.]"
    )


def truncate_middle(text: str, limit: int) -> str:
    """`text` if at most `limit` characters, else its head and tail with a marker between
    (what the model sees of a long output)."""
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters of output cut ...]\n{text[-half:]}"
