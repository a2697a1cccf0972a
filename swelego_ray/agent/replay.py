"""The replay teacher: a scripted episode derived from a task's gold patch.

No model that runs here can solve tasks, yet rollouts, judging, labelling and SFT masking
must run for real. The replay teacher plays what a competent engineer would do, one tool
call per turn: look at the repository, view the files the fix touches, run the failing
tests (they fail), edit each hunk with `str_replace_editor`, run the tests again, finish.
With `mistake_rate` > 0 it also makes realistic mistakes, drawn from a seeded RNG: a
`str_replace` whose `old_str` does not match (an `ERROR:` observation, then the right
one) and a mistyped command (`command not found`, exit 127, then the right one). The
trajectories it produces say `model = "replay"`: they are for tests, demos and ablations,
not for claims about a model.

It does not read the observations: the script is fixed when the episode starts.
"""

from __future__ import annotations

import itertools
import json
import random
import shlex
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import unidiff
from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.llm import ChatResult
from swelego_ray.llm import ToolCall as WireToolCall
from swelego_ray.schema.tool_calls import render_text_tool_call
from swelego_ray.schema.tools_schema import EXECUTE_BASH, FINISH, STR_REPLACE_EDITOR, THINK

REPLAY_MODEL = "replay"
_TYPOS = {"python": "pyhton", "grep": "gerp", "ls": "sl", "cat": "cta", "git": "gti"}


class ReplayConfig(BaseModel):
    """How the replay teacher plays."""

    model_config = ConfigDict(extra="forbid")

    mistake_rate: float = Field(0.0, ge=0.0, le=1.0)
    """Chance of a mistake before each edit and each command."""
    seed: int = 0
    call_form: Literal["native", "text"] = "native"
    """`native` (OpenAI tool_calls) or `text` (`<function=...>` in the content)."""
    think_time_s: float = Field(0.0, ge=0.0, le=600.0)
    """Seconds each reply takes: a stand-in for a served model's generation time, for
    measuring what waits on a model (e.g. K parallel rollouts against a GPU policy) on a
    machine without one. 0 answers at once."""


class _Call(BaseModel):
    name: str
    arguments: dict[str, Any]
    thought: str = ""


class ReplayTeacher:
    """A scripted teacher for one task (see the module docstring)."""

    name = REPLAY_MODEL

    def __init__(
        self,
        gold_patch: str,
        test_command: str,
        *,
        workdir: str = "/testbed",
        config: ReplayConfig | None = None,
        key: str = "",
    ) -> None:
        self.config = config or ReplayConfig()
        self.workdir = workdir.rstrip("/")
        # one RNG per episode: the same task, seed and key replay the same mistakes
        self._rng = random.Random(f"{self.config.seed}:{key}")
        self._script: Iterator[_Call] = iter(self._plan(gold_patch, test_command))
        self._ids = itertools.count(1)

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None
    ) -> ChatResult:
        call = next(self._script, None) or _Call(name=FINISH, arguments={"message": "Done."})
        if self.config.think_time_s:
            time.sleep(self.config.think_time_s)
        latency = self.config.think_time_s
        if self.config.call_form == "text":
            text = f"{call.thought}\n\n" if call.thought else ""
            text += render_text_tool_call(call.name, call.arguments)
            return _answer(text, (), latency)
        wire = WireToolCall(
            id=f"call_{next(self._ids)}", name=call.name, arguments=json.dumps(call.arguments)
        )
        return _answer(call.thought, (wire,), latency)

    # -- the script ----------------------------------------------------------------------

    def _plan(self, gold_patch: str, test_command: str) -> Iterator[_Call]:
        files = list(unidiff.PatchSet(gold_patch))
        paths = [f.path for f in files]
        yield _Call(
            name=THINK,
            arguments={"thought": f"The issue points at {', '.join(paths)}; look there first."},
        )
        yield from self._bash(f"cd {self.workdir} && ls", "Let me look at the repository.")
        for f in files:
            if not f.is_added_file:
                yield self._view(f)
        yield from self._bash(test_command, "Reproduce the failure with the tests.")
        for f in files:
            yield from self._edit(f)
        yield from self._bash(test_command, "Run the tests again to verify the fix.")
        yield _Call(name=FINISH, arguments={"message": "Fixed; the failing tests pass now."})

    def _path(self, f: unidiff.PatchedFile) -> str:
        return f"{self.workdir}/{f.path}"

    def _view(self, f: unidiff.PatchedFile) -> _Call:
        first = f[0].source_start if len(f) else 1
        start = max(1, first - 5)
        return _Call(
            name=STR_REPLACE_EDITOR,
            arguments={
                "command": "view",
                "path": self._path(f),
                "view_range": [start, -1],
            },
            thought=f"Let me read {f.path}.",
        )

    def _bash(self, command: str, thought: str) -> Iterator[_Call]:
        words = command.split()
        typo = next((w for w in words if w in _TYPOS), None)
        if typo and self._mistake():
            wrong = " ".join(_TYPOS[w] if w == typo else w for w in words)
            yield _Call(name=EXECUTE_BASH, arguments={"command": wrong}, thought=thought)
            thought = "I mistyped the command; again."
        yield _Call(name=EXECUTE_BASH, arguments={"command": command}, thought=thought)

    def _edit(self, f: unidiff.PatchedFile) -> Iterator[_Call]:
        path = self._path(f)
        if f.is_removed_file:
            yield from self._bash(f"rm {shlex.quote(path)}", f"{f.path} is not needed.")
            return
        if f.is_added_file:
            text = "".join(line.value for hunk in f for line in hunk if not line.is_removed)
            yield _Call(
                name=STR_REPLACE_EDITOR,
                arguments={"command": "create", "path": path, "file_text": text},
                thought=f"Create {f.path}.",
            )
            return
        for hunk in f:
            old = "".join(line.value for line in hunk if not line.is_added)
            new = "".join(line.value for line in hunk if not line.is_removed)
            thought = f"Fix {f.path} around line {hunk.source_start}."
            if self._mistake():
                yield _Call(
                    name=STR_REPLACE_EDITOR,
                    arguments={
                        "command": "str_replace",
                        "path": path,
                        "old_str": _misremembered(old),
                        "new_str": new,
                    },
                    thought=thought,
                )
                thought = "old_str did not match the file exactly; copy it as it is."
            yield _Call(
                name=STR_REPLACE_EDITOR,
                arguments={"command": "str_replace", "path": path, "old_str": old, "new_str": new},
                thought=thought,
            )

    def _mistake(self) -> bool:
        return self._rng.random() < self.config.mistake_rate


def _misremembered(text: str) -> str:
    """`text` as someone would retype it from memory: indentation off by one space."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip():
            lines[i] = " " + line
            break
    return "".join(lines) + "# (as I remember it)\n"


def _answer(text: str, calls: tuple[WireToolCall, ...], latency_s: float) -> ChatResult:
    return ChatResult(
        text=text,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        prompt_tokens=0,
        completion_tokens=0,
        model=REPLAY_MODEL,
        latency_s=latency_s,
        settings={"teacher": REPLAY_MODEL},
    )


__all__ = ["REPLAY_MODEL", "ReplayConfig", "ReplayTeacher"]
