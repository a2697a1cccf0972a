"""What the ablation writes: `ablation.json` (an `AblationResult`) and `ablation.md`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

HONEST_NOTE = (
    "The model is the project's tiny random-initialised Qwen3 (~150k parameters, 1k-token "
    "vocabulary) trained for a few dozen optimizer steps on a few dozen scripted "
    "replay-teacher trajectories on CPU. It learns the format of the turns at best, not "
    "how to fix code: differences between arms are small and within the noise of one seed "
    "unless they are large. The figures show that the four arms run and are scored the "
    "same way, not what masking or the curriculum do for a real model."
)


class ArmScores(BaseModel):
    """One model scored on the held-out trajectories."""

    model_config = ConfigDict(extra="forbid")

    arm: str
    """`mask-on_curr-on` ... or `untrained` (the shared starting point)."""
    masking: bool | None = None
    curriculum: bool | None = None
    train_steps: int = 0
    final_train_loss: float | None = None
    heldout_loss: float = 0.0
    """Mean cross-entropy per token over the held-out assistant turns that are not
    injected mistakes (the resolved steps); masked turns are context only."""
    heldout_tokens: int = 0
    forced_tool_agreement: float | None = None
    """Teacher-forced: share of held-out turns (no teacher mistake) where, after the
    teacher's text up to the tool name, the teacher's tool is the most likely of the four."""
    forced_file_turns: int = 0
    forced_file_agreement: float | None = None
    """The same for the file path, among the files the held-out tasks' calls name."""
    mistake_preference: float | None = None
    """Teacher-forced: share of injected-mistake positions where, at the first token where
    the mistaken call and the correct one (after the same thought) part, the model gives
    the mistake the higher probability."""
    mistake_log_odds: float | None = None
    """Mean log p(mistake) - log p(correct) at those tokens (< 0: the model avoids it)."""
    sampled_turns: int = 0
    """Held-out turns the model wrote its own reply for (`max_new_tokens`, `temperature`)."""
    valid_call_rate: float = 0.0
    """Share of sampled replies holding a complete tool call that parses and fits a tool's
    schema, within `max_new_tokens`."""
    agreement_turns: int = 0
    """Sampled turns where the teacher did not make a mistake."""
    tool_agreement: float = 0.0
    """Share of those where the sampled reply calls the teacher's tool."""
    file_turns: int = 0
    file_agreement: float | None = None
    """Share of the turns whose teacher call names a file where the reply names the same."""
    mistake_positions: int = 0
    """Sampled turns where the teacher made an injected mistake."""
    mistake_reproduction: float | None = None
    """Share of those where the sampled call, up to one character past where the mistake
    and the teacher's correction part, matches the mistake."""
    correction_followed: float | None = None
    """... matches the correction instead."""


class AblationResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trajectories: str
    train_trajectories: int
    train_tasks: int
    heldout_trajectories: int
    heldout_tasks: int
    masked_train_turns: dict[str, int]
    """Masked assistant turns per rule in the training set (what masking removes)."""
    settings: dict[str, object]
    arms: list[ArmScores]
    note: str = HONEST_NOTE


_COLUMNS: list[tuple[str, str]] = [
    ("arm", "arm"),
    ("steps", "train_steps"),
    ("train loss", "final_train_loss"),
    ("held-out loss (resolved steps)", "heldout_loss"),
    ("tool choice (forced)", "forced_tool_agreement"),
    ("file choice (forced)", "forced_file_agreement"),
    ("prefers mistake (forced)", "mistake_preference"),
    ("mistake log-odds (forced)", "mistake_log_odds"),
    ("valid calls (sampled)", "valid_call_rate"),
    ("tool agreement (sampled)", "tool_agreement"),
    ("mistakes reproduced (sampled)", "mistake_reproduction"),
]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(result: AblationResult) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: header and one row per arm (the report shows it too)."""
    header = [h for h, _ in _COLUMNS]
    return header, [[_cell(getattr(arm, k)) for _, k in _COLUMNS] for arm in result.arms]


def render_markdown(result: AblationResult) -> str:
    """The side-by-side table with the counts behind each rate and the honest note."""
    lines = [
        "# Learning-signal ablation (tiny model)",
        "",
        f"Trajectories: `{result.trajectories}`: {result.train_trajectories} for training "
        f"({result.train_tasks} tasks), {result.heldout_trajectories} held out "
        f"({result.heldout_tasks} other tasks). Masked turns in the training set (what the "
        f"masking arms do not train on): {result.masked_train_turns or 'none'}.",
        "",
    ]
    header, rows = table(result)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    first = result.arms[-1] if result.arms else None
    if first is not None:
        lines += [
            "",
            f"Per arm: {first.heldout_tokens} held-out loss tokens; forced choices on "
            f"{first.agreement_turns} turns without a teacher mistake ({first.forced_file_turns} "
            f"with a file); {first.mistake_positions} injected-mistake positions; "
            f"{first.sampled_turns} sampled replies. Forced = teacher-forced "
            "log-probabilities; sampled = the model's own reply.",
        ]
    lines += ["", f"**Read with care.** {result.note}", ""]
    lines += ["Settings: " + ", ".join(f"{k}={v}" for k, v in result.settings.items()), ""]
    return "\n".join(lines)
