"""Step-level error masking: decide, per assistant turn, whether its action was an error.

A masked turn stays in the context but gets no loss (labels -100 on the whole turn). The
rules read the turn's own call(s) and the observation that follows it (the tool/user
messages up to the next assistant turn). They are applied in the order below; the first
that fires names the reason. The exact rule set is documented in docs/sft.md.

1. explicit          `turn_mask` already present in the data wins (True masks, False trains),
                     also on the final turn.
2. (final turn)      the last assistant turn is never masked by a rule.
3. malformed_call    a call that cannot run: arguments not JSON, unknown tool, a missing
                     required parameter, a text-form `<function=` block that does not parse,
                     or an observation matching `malformed_call_patterns` (what the agent
                     loop / OpenHands say back for such calls).
4. editor_error      an editor call (OpenHands' str_replace_editor / file_editor, SWE-agent's
                     open / edit / create / ...) whose result matches `editor_error_patterns`
                     (`ERROR:`, SWE-agent's "No replacement was performed", "Your proposed
                     edit has introduced new syntax error(s)", "File ... not found", ...).
5. command_not_found a bash call whose output has a `...: command not found` line or exit
                     code 127.
6. timeout           a bash call that was stopped at its timeout.
7. agent_code_error  a Python error (SyntaxError, IndentationError, TabError,
                     ModuleNotFoundError, NameError) whose innermost traceback frame is code the
                     agent wrote: a file it created (editor `create`, or a shell redirection
                     into a .py file), an inline snippet (`<string>`, `<stdin>`), or, for the
                     compile errors only, a repository file the agent edited.
8. traceback_outside_reproduction
                     a bash call with non-zero exit code (or none shown, as in SWE-agent
                     outputs, when `traceback_without_exit_code`) and a Python traceback
                     ending in an exception line, unless the
                     command is an expected reproduction run: it runs a test runner
                     (`test_command_patterns`), an inline snippet (`python -c`, a heredoc),
                     or a .py file the agent created or named like a reproduction script
                     (`expected_run_patterns`). Failing there is the point of the run.

Observations are read without the headers scaffolds put before them (OpenHands'
`EXECUTION RESULT of [tool]:`, SWE-agent's / OpenHands' `OBSERVATION:`), so
`OBSERVATION:\nERROR:` is an editor error like `ERROR:`. Tool names of every supported
scaffold are configured (`bash_tools`, `editor_tools`). A trajectory on which the rules
themselves fail (an odd row) keeps only its explicit masks and is counted under
`rules_error` in the report; it never aborts the batch.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.agent.observations import TIMEOUT_RE, exit_code_of
from swelego_ray.schema import Message, Trajectory
from swelego_ray.schema.tool_calls import (
    ToolCallParseError,
    has_text_tool_call,
    parse_arguments,
    parse_text_tool_calls,
)
from swelego_ray.schema.tools_schema import EDITING_COMMANDS, TOOLS, schema_by_name

logger = logging.getLogger(__name__)


class MaskRule(StrEnum):
    EXPLICIT = "explicit"
    MALFORMED_CALL = "malformed_call"
    EDITOR_ERROR = "editor_error"
    COMMAND_NOT_FOUND = "command_not_found"
    TIMEOUT = "timeout"
    AGENT_CODE_ERROR = "agent_code_error"
    TRACEBACK = "traceback_outside_reproduction"


_RULES = [r for r in MaskRule if r is not MaskRule.EXPLICIT]


class MaskingConfig(BaseModel):
    """Which rules run, and the patterns they use (regular expressions, `re` syntax)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """False: no turn is masked by a rule (explicit `turn_mask` still applies if respected)."""
    respect_explicit: bool = True
    """An explicit `turn_mask` in the data wins over the rules."""
    rules: list[MaskRule] = Field(default_factory=lambda: list(_RULES))
    editor_tools: list[str] = [
        "str_replace_editor",  # OpenHands, SWE-smith
        "file_editor",  # OpenHands V1 SDK
        "edit",  # SWE-agent commands (nebius SWE-agent-trajectories)
        "open",
        "create",
        "goto",
        "insert",
    ]
    bash_tools: list[str] = ["execute_bash", "bash", "terminal"]
    """OpenHands, SWE-agent / SWE-smith, OpenHands V1 SDK."""
    editor_error_patterns: list[str] = [
        r"\AERROR:",
        r"\AError:",
        r"\AInvalid `\w+` parameter",
        r"\ANo replacement was performed",
        r"\AThe path \S+ does not exist",
        r"\AFile already exists at",
        r"\A(?:File|Directory) .+ not found",
        r"Your proposed edit has introduced new syntax error",
        r"\AUsage: ",
    ]
    """Results of a failed editor call (after the observation header is removed)."""
    traceback_without_exit_code: bool = True
    """Outputs that show no exit code (SWE-agent) fail when they end in a traceback."""
    malformed_call_patterns: list[str] = [
        r"\AERROR: could not run your tool call",
        r"Missing required (?:parameters|argument)s? for function",
        r"\AERROR: (?:Unknown|Unrecognized) (?:tool|function)",
        r"did not contain a (?:function|tool) call",
        r"\APlease continue working on the task on whatever approach",
    ]
    agent_error_types: list[str] = [
        "SyntaxError",
        "IndentationError",
        "TabError",
        "ModuleNotFoundError",
        "NameError",
    ]
    compile_error_types: list[str] = ["SyntaxError", "IndentationError", "TabError"]
    """Errors that also count in repository files the agent edited (they compiled before)."""
    test_command_patterns: list[str] = [
        r"\bpy\.?test\b",
        r"-m\s+(?:pytest|unittest|nose2?|doctest)\b",
        r"\b(?:tox|nox)\b",
        r"\bruntests\.py\b",
        r"\bmanage\.py\s+test\b",
        r"\bmake\s+(?:test|check)\b",
    ]
    inline_code_patterns: list[str] = [r"\bpython[\d.]*\s+-c\b", r"\bpython[\d.]*\s+(?:-\s*)?<<"]
    expected_run_patterns: list[str] = [r"\b(?:reproduce|repro|debug)\w*\.py\b"]


class TurnDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_index: int
    masked: bool
    reason: str | None = None
    """The rule that fired (a MaskRule value), or None for a trained turn."""
    detail: str = ""


_FRAME_RE = re.compile(r'^\s*File "([^"]+)", line \d+', re.MULTILINE)
_HEADER_RE = re.compile(r"\A\s*(?:EXECUTION RESULT of \[[^\]\n]+\]:|OBSERVATION:)[ \t]*\n?")
_EXCEPTION_LINE_RE = re.compile(r"^[\w.]*(?:Error|Exception|Interrupt|Exit)\b.*$", re.MULTILINE)
_NOT_FOUND_RE = re.compile(r": command not found\s*$", re.MULTILINE)
_TRACEBACK = "Traceback (most recent call last):"
_WRITE_RE = re.compile(r"(?:>>?|\btee\s+(?:-a\s+)?)\s*['\"]?([^\s'\"<>|;&]+\.py)\b")


class _Call:
    __slots__ = ("args", "name", "problem")

    def __init__(self, name: str, args: dict[str, Any], problem: str = "") -> None:
        self.name, self.args, self.problem = name, args, problem


def decide_masks(traj: Trajectory, config: MaskingConfig | None = None) -> list[TurnDecision]:
    """One decision per assistant turn, in order."""
    cfg = config or MaskingConfig()
    compiled = _Compiled(cfg)
    # unknown tool names count as malformed only when the trajectory declares its tools
    # (dumps without a tool list may use scaffold tools beyond the four defined here)
    schemas = {
        k: v if isinstance(v, dict) else {} for k, v in schema_by_name(traj.tools or TOOLS).items()
    }
    strict = bool(traj.tools)
    created: set[str] = set()
    edited: set[str] = set()
    indices = traj.assistant_indices()
    decisions = []
    for n, index in enumerate(indices):
        message = traj.messages[index]
        calls = _calls(message, traj.tool_call_format, schemas, strict)
        results = [observation_body(m.content) for m in traj.observation_after(index)]
        _track_writes(calls, results, cfg, compiled, created, edited)
        if cfg.respect_explicit and message.turn_mask is not None:
            reason = MaskRule.EXPLICIT.value if message.turn_mask else None
            detail = message.mask_reason or "turn_mask in the data"
            decisions.append(TurnDecision(message_index=index, masked=message.turn_mask,
                                          reason=reason, detail=detail))  # fmt: skip
            continue
        fired = None
        if cfg.enabled and n != len(indices) - 1:
            fired = _first_rule(calls, results, cfg, compiled, created, edited)
        decisions.append(
            TurnDecision(
                message_index=index,
                masked=fired is not None,
                reason=fired[0].value if fired else None,
                detail=fired[1] if fired else "",
            )
        )
    return decisions


def apply_masks(traj: Trajectory, config: MaskingConfig | None = None) -> Trajectory:
    """A copy with `turn_mask` / `mask_reason` set on every assistant turn."""
    return mask_dataset([traj], config)[0][0]


def observation_body(text: str) -> str:
    """An observation without the headers scaffolds write before it (repeated ones too)."""
    while True:
        stripped = _HEADER_RE.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped


class _Compiled:
    def __init__(self, cfg: MaskingConfig) -> None:
        self.malformed = [re.compile(p, re.MULTILINE) for p in cfg.malformed_call_patterns]
        self.editor_error = [re.compile(p) for p in cfg.editor_error_patterns]
        self.expected = [
            re.compile(p)
            for p in (
                *cfg.test_command_patterns,
                *cfg.inline_code_patterns,
                *cfg.expected_run_patterns,
            )
        ]
        types = "|".join(map(re.escape, cfg.agent_error_types))
        self.error_line = re.compile(rf"^\s*({types})\b:?", re.MULTILINE)


def _calls(message: Message, fmt: str, schemas: dict[str, Any], strict: bool) -> list[_Call]:
    if fmt == "text" and has_text_tool_call(message.content):
        try:
            _, parsed = parse_text_tool_calls(message.content)
        except ToolCallParseError as exc:
            return [_Call("", {}, f"text-form call does not parse: {exc}")]
        raw = [(c.name, c.arguments, "") for c in parsed]
    else:
        raw = []
        for call in message.tool_calls:
            try:
                raw.append((call.function.name, parse_arguments(call.function.arguments), ""))
            except ToolCallParseError as exc:
                raw.append((call.function.name, {}, str(exc)))
    calls = []
    for name, args, problem in raw:
        if not problem and name not in schemas:
            problem = f"unknown tool {name!r}" if strict else ""
        if not problem and name in schemas:
            missing = [k for k in schemas[name].get("required") or [] if k not in args]
            problem = f"{name}: missing required {missing}" if missing else ""
        calls.append(_Call(name, args, problem))
    return calls


def _track_writes(
    calls: list[_Call],
    results: list[str],
    cfg: MaskingConfig,
    compiled: _Compiled,
    created: set[str],
    edited: set[str],
) -> None:
    failed = bool(_editor_error(results, compiled))
    for call in calls:
        if call.problem:
            continue
        if call.name in cfg.editor_tools and not failed:
            path, command = str(call.args.get("path", "")), str(call.args.get("command", ""))
            if command == "create":
                created.add(path)
            elif command in EDITING_COMMANDS:
                edited.add(path)
            elif call.name == "create" and len(command.split()) > 1:  # SWE-agent `create f.py`
                created.add(command.split()[1])
        elif call.name in cfg.bash_tools:
            created.update(_WRITE_RE.findall(str(call.args.get("command", ""))))


def _first_rule(
    calls: list[_Call],
    results: list[str],
    cfg: MaskingConfig,
    compiled: _Compiled,
    created: set[str],
    edited: set[str],
) -> tuple[MaskRule, str] | None:
    rules = set(cfg.rules)
    names = {c.name for c in calls}
    bash = bool(names & set(cfg.bash_tools))
    obs = "\n".join(results).strip()
    if MaskRule.MALFORMED_CALL in rules:
        bad = next((c.problem for c in calls if c.problem), "")
        if not bad and any(p.search(obs) for p in compiled.malformed):
            bad = "the observation reports an unusable call"
        if bad:
            return MaskRule.MALFORMED_CALL, bad
    error = _editor_error(results, compiled)
    if MaskRule.EDITOR_ERROR in rules and names & set(cfg.editor_tools) and error:
        return MaskRule.EDITOR_ERROR, error.splitlines()[0][:200]
    code = exit_code_of(obs) if bash else None
    if MaskRule.COMMAND_NOT_FOUND in rules and bash and (_NOT_FOUND_RE.search(obs) or code == 127):
        return MaskRule.COMMAND_NOT_FOUND, "command not found"
    if MaskRule.TIMEOUT in rules and bash and TIMEOUT_RE.search(obs):
        return MaskRule.TIMEOUT, "the command timed out"
    if MaskRule.AGENT_CODE_ERROR in rules:
        found = _agent_code_error(obs, cfg, compiled, created, edited)
        if found:
            return MaskRule.AGENT_CODE_ERROR, found
    failed = code not in (None, 0) or (
        code is None and cfg.traceback_without_exit_code and _ends_in_exception(obs)
    )
    if MaskRule.TRACEBACK in rules and bash and failed and _TRACEBACK in obs:
        commands = [str(c.args.get("command", "")) for c in calls if c.name in cfg.bash_tools]
        if not any(_expected_run(cmd, compiled, created) for cmd in commands):
            shown = f"exit code {code}" if code is not None else "no exit code shown"
            return MaskRule.TRACEBACK, f"{shown}, with a traceback"
    return None


def _editor_error(results: list[str], compiled: _Compiled) -> str:
    """The first result that reports a failed editor call ('' if none)."""
    for r in results:
        text = r.strip()
        if any(p.search(text) for p in compiled.editor_error):
            return text
    return ""


def _ends_in_exception(obs: str) -> bool:
    """A traceback whose exception line comes after its last frame (the command died)."""
    at = obs.rfind(_TRACEBACK)
    return at >= 0 and bool(_EXCEPTION_LINE_RE.search(obs, at + len(_TRACEBACK)))


def _agent_code_error(
    obs: str, cfg: MaskingConfig, compiled: _Compiled, created: set[str], edited: set[str]
) -> str:
    for match in compiled.error_line.finditer(obs):
        frames = _FRAME_RE.findall(obs, 0, match.start())
        if not frames:
            continue
        path, kind = frames[-1], match.group(1)
        if path in ("<string>", "<stdin>") or _matches_any(path, created):
            return f"{kind} in agent code {path}"
        if kind in cfg.compile_error_types and _matches_any(path, edited):
            return f"{kind} in edited file {path}"
    return ""


def _expected_run(command: str, compiled: _Compiled, created: set[str]) -> bool:
    if any(p.search(command) for p in compiled.expected):
        return True
    scripts = re.findall(r"\bpython[\d.]*\s+(?:-\S+\s+)*([^\s;&|]+\.py)\b", command)
    return any(_matches_any(s, created) for s in scripts)


def _matches_any(path: str, known: set[str]) -> bool:
    """Same file, allowing one side to be relative (`reproduce.py` vs `/testbed/reproduce.py`)."""
    path = path.removeprefix("./")
    for k in known:
        k = k.removeprefix("./")
        if path == k or path.endswith("/" + k) or k.endswith("/" + path):
            return True
    return False


class MaskingReport(BaseModel):
    """Masked fraction per dataset and per rule (over assistant turns)."""

    model_config = ConfigDict(extra="forbid")

    datasets: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def _row(self, dataset: str) -> dict[str, Any]:
        return self.datasets.setdefault(
            dataset, {"trajectories": 0, "turns": 0, "masked": 0, "by_rule": {}, "rules_error": 0}
        )

    def rules_error(self, dataset: str) -> None:
        self._row(dataset)["rules_error"] += 1

    def add(self, dataset: str, decisions: list[TurnDecision]) -> None:
        row = self._row(dataset)
        row["trajectories"] += 1
        row["turns"] += len(decisions)
        row["masked"] += sum(d.masked for d in decisions)
        by_rule = Counter(row["by_rule"])
        by_rule.update(d.reason for d in decisions if d.masked and d.reason)
        row["by_rule"] = dict(by_rule.most_common())

    def masked_fraction(self, dataset: str | None = None) -> float:
        rows = [self.datasets[dataset]] if dataset else list(self.datasets.values())
        turns = sum(r["turns"] for r in rows)
        return sum(r["masked"] for r in rows) / turns if turns else 0.0

    def rule_fractions(self, dataset: str) -> dict[str, float]:
        row = self.datasets[dataset]
        return {k: v / row["turns"] for k, v in row["by_rule"].items()} if row["turns"] else {}

    def render(self) -> str:
        lines = []
        for name, row in self.datasets.items():
            lines.append(
                f"[masking] {name}: {row['masked']}/{row['turns']} assistant turns masked "
                f"({self.masked_fraction(name):.1%}) in {row['trajectories']} trajectories"
            )
            lines += [
                f"  - {rule}: {n} ({n / row['turns']:.1%})" for rule, n in row["by_rule"].items()
            ]
            if row.get("rules_error"):
                lines.append(f"  ! rules failed on {row['rules_error']} trajectories (see log)")
        return "\n".join(lines)


def mask_dataset(
    trajectories: list[Trajectory],
    config: MaskingConfig | None = None,
    dataset: str | None = "data",
) -> tuple[list[Trajectory], MaskingReport]:
    """Apply the rules to every trajectory and report the masked fractions (per
    `dataset`, or per source format when `dataset` is None). A trajectory the rules fail
    on keeps its explicit masks only and is counted under `rules_error`."""
    report = MaskingReport()
    out = []
    for traj in trajectories:
        name = dataset if dataset is not None else (traj.source_format or "data")
        try:
            decisions = decide_masks(traj, config)
        except Exception as exc:  # an odd row must not abort the batch
            logger.warning("masking rules failed on %s: %s: %s", traj.instance_id,
                           type(exc).__name__, exc)  # fmt: skip
            decisions = _explicit_only(traj, f"{type(exc).__name__}: {exc}")
            report.rules_error(name)
        report.add(name, decisions)
        masked = traj.model_copy(deep=True)
        for d in decisions:
            m = masked.messages[d.message_index]
            m.turn_mask = d.masked
            m.mask_reason = _reason_text(d)
        out.append(masked)
    return out, report


def _explicit_only(traj: Trajectory, problem: str) -> list[TurnDecision]:
    return [
        TurnDecision(
            message_index=i,
            masked=traj.messages[i].turn_mask is True,
            reason=MaskRule.EXPLICIT.value if traj.messages[i].turn_mask else None,
            detail=f"rules not applied ({problem[:200]})",
        )
        for i in traj.assistant_indices()
    ]


def _reason_text(d: TurnDecision) -> str | None:
    if not d.masked:
        return None
    return f"{d.reason}: {d.detail}" if d.detail else d.reason
