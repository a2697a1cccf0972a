"""Problem statements written by a model from the bug diff and the failing tests' output,
never revealing the fix.

    result = write_statement(client, repo="acme/calc", bug_patch=..., gold_patch=...,
                             failing_tests=[...], test_output="...")
    result.statement or result.reject

`check_statement` is the pure check every statement passes: not empty, not garbled (no
control characters or undecodable bytes), no diff quoted, no line the gold patch adds
(`swelego_ray.synth.statements.leaked_lines`, the check the pipeline applies to every
writer). Importing this module registers the `llm` statement
writer (`statement_writer="llm"`, settings in `cfg.options["llm"]`); a rejected statement
raises `StatementRejected`, whose `reason` names the rejection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from swelego_ray.llm import ContextTooLong, LLMClient, LLMError, Message
from swelego_ray.schema import Task
from swelego_ray.synth.llm_rewrite import llm_options, render_prompt
from swelego_ray.synth.statements import Evidence, leaked_lines, register_statement_writer

if TYPE_CHECKING:
    from swelego_ray.synth.config import SynthConfig

WRITER = "llm"
MIN_CHARS = 40  # shorter is no problem statement
MAX_PATCH_CHARS = 6000  # of the bug diff shown to the model
MAX_OUTPUT_CHARS = 3000  # of the test output shown (its end)
MAX_TESTS = 10
# Real tasks have no bug patch (and the gold patch would reveal the fix): tests only.
NO_BUG_PATCH = "(no diff available: the bug is in the repository as it is)"

_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_DIFF_MARKERS = re.compile(r"^(diff --git |@@ -\d|--- a/|\+\+\+ b/)", re.MULTILINE)
# control characters but tab and newline, and U+FFFD (bytes that did not decode)
_GARBLED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")


class StatementReject(StrEnum):
    """Why a model-written statement is not used (funnel drop reasons)."""

    EMPTY = "empty"  # nothing, or too short to describe a problem
    GARBLED = "garbled"  # control characters or undecodable bytes: not prose
    QUOTES_DIFF = "quotes_diff"  # contains diff text
    LEAKS_FIX = "leaks_fix"  # quotes a line the gold patch adds
    PROMPT_TOO_LONG = "prompt_too_long"  # over the served model's context window
    LLM_ERROR = "llm_error"  # the request failed otherwise (detail: the error)


@dataclass(frozen=True)
class StatementResult:
    """The statement or why it was rejected, and the request's tokens."""

    statement: str | None
    reject: StatementReject | None = None
    detail: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.statement is not None


class StatementRejected(ValueError):
    """A writer's statement was rejected; `reason` is a StatementReject value."""

    def __init__(self, reason: StatementReject, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def clean_statement(answer: str) -> str:
    """The answer without thinking blocks, surrounding blank lines or a fence around it."""
    text = _THINK.sub("", answer).strip()
    fenced = re.fullmatch(r"```[\w-]*\n(.*)\n```", text, re.DOTALL)
    return (fenced.group(1) if fenced else text).strip()


def check_statement(statement: str, gold_patch: str) -> tuple[StatementReject | None, str]:
    """(None, "") for a usable statement, else (reason, detail). Pure."""
    if len(statement.strip()) < MIN_CHARS:
        return StatementReject.EMPTY, f"{len(statement.strip())} characters"
    if garbled := _GARBLED.findall(statement):
        return StatementReject.GARBLED, f"{len(garbled)} control or undecodable characters"
    if marker := _DIFF_MARKERS.search(statement):
        return StatementReject.QUOTES_DIFF, f"contains {marker.group(0)!r}"
    if leaks := leaked_lines(statement, gold_patch):
        return StatementReject.LEAKS_FIX, f"quotes the fix: {leaks[:3]}"
    return None, ""


def statement_messages(
    *, repo: str, bug_patch: str, failing_tests: list[str], test_output: str = ""
) -> list[Message]:
    """The chat asking for one statement (prompts in swelego_ray/synth/prompts/)."""
    patch = bug_patch if len(bug_patch) <= MAX_PATCH_CHARS else bug_patch[:MAX_PATCH_CHARS]
    user = render_prompt(
        "statement.jinja",
        repo=repo,
        bug_patch=patch.rstrip("\n"),
        failing_tests=failing_tests[:MAX_TESTS],
        test_output=test_output[-MAX_OUTPUT_CHARS:].strip("\n"),
    )
    return [
        {"role": "system", "content": render_prompt("statement_system.txt")},
        {"role": "user", "content": user},
    ]


def write_statement(
    client: LLMClient,
    *,
    repo: str,
    bug_patch: str,
    gold_patch: str,
    failing_tests: list[str],
    test_output: str = "",
    **sampling: Any,
) -> StatementResult:
    """Ask the model for a statement and check it; a failed request is a rejection too."""
    messages = statement_messages(
        repo=repo, bug_patch=bug_patch, failing_tests=failing_tests, test_output=test_output
    )
    try:
        answer = client.chat(messages, **sampling)
    except LLMError as exc:
        too_long = isinstance(exc, ContextTooLong)
        reject = StatementReject.PROMPT_TOO_LONG if too_long else StatementReject.LLM_ERROR
        return StatementResult(None, reject, f"{type(exc).__name__}: {exc}")
    return judge_statement(answer.text, gold_patch, answer.prompt_tokens, answer.completion_tokens)


def judge_statement(
    answer: str, gold_patch: str, prompt_tokens: int = 0, completion_tokens: int = 0
) -> StatementResult:
    """The result of one answer, however it was obtained (client or batch inference)."""
    statement = clean_statement(answer)
    reason, detail = check_statement(statement, gold_patch)
    tokens = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    if reason is not None:
        return StatementResult(None, reason, detail, **tokens)
    return StatementResult(statement + "\n", **tokens)


class LLMStatementWriter:
    """The `llm` statement writer: `write` returns the statement or raises
    StatementRejected (the pipeline records the task as dropped with that reason)."""

    name = WRITER

    def __init__(self, client: LLMClient, **sampling: Any) -> None:
        self.client, self.sampling = client, sampling

    def write(self, task: Task, evidence: Evidence) -> str:
        failure = "\n".join(evidence.failure_lines)
        result = write_statement(
            self.client,
            repo=task.repo,
            bug_patch=task.bug_patch or NO_BUG_PATCH,
            gold_patch=task.patch,
            failing_tests=evidence.failing_tests,
            test_output=f"{failure}\n\n{evidence.output_tail}".strip(),
            **self.sampling,
        )
        if result.statement is None:
            assert result.reject is not None
            raise StatementRejected(result.reject, result.detail)
        return result.statement


def _writer(cfg: SynthConfig) -> LLMStatementWriter:
    options = llm_options(cfg)
    if options.engine != "server":
        raise ValueError(
            "the llm statement writer asks for one statement at a time from an endpoint "
            "(options llm.url); batch inference (engine ray_data) serves the llm strategy"
        )
    client = LLMClient(options.client_config())
    client.check()  # a dead endpoint fails the run before any statement is asked for
    return LLMStatementWriter(client)


register_statement_writer(WRITER, _writer)
