"""Choosing one patch among K candidates, and the TTS@K measurement.

The choice sees only what a deployment sees: the verifier's score and the execution
signals (a non-empty patch, a submitted episode, no git hacking), never a test outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.schema import Label
from swelego_ray.serve.records import Candidate


class Selection(StrEnum):
    """How the verifier's score and the execution signals combine."""

    VERIFIER = "verifier"
    """Highest score among the candidates with a non-empty patch."""
    SIGNALS = "signals"
    """Submitted, hack-free, non-empty patches first; the score orders within a tier."""


def rank_key(candidate: Candidate, rule: Selection) -> tuple[float, ...]:
    """Larger is better; candidates with no patch always rank last."""
    usable = float(candidate.ok and candidate.signals.nonempty)
    score = candidate.score if candidate.score is not None else -1.0
    if rule is Selection.VERIFIER:
        return (usable, score)
    tier = float(candidate.signals.submitted) + float(not candidate.signals.git_hacking)
    return (usable, tier, score)


def choose(candidates: Sequence[Candidate], rule: Selection = Selection.SIGNALS) -> int | None:
    """The chosen candidate's attempt (the earliest attempt among ties), or None if no
    candidate has a usable patch."""
    best: Candidate | None = None
    for c in sorted(candidates, key=lambda c: c.attempt):
        if best is None or rank_key(c, rule) > rank_key(best, rule):
            best = c
    if best is None or not (best.ok and best.signals.nonempty):
        return None
    return best.attempt


class TTSCurve(BaseModel):
    """TTS@k (the chosen candidate among the first k resolves), Pass@1 and Pass@k (some
    candidate among the first k resolves: the oracle's bound), averaged over tasks."""

    model_config = ConfigDict(extra="forbid")

    tasks: int
    k: list[int]
    tts_at_k: list[float]
    pass_at_k: list[float]
    pass_at_1: float
    """Mean share of resolved candidates per task (the unbiased single-sample rate)."""
    selection: str
    per_task: dict[str, list[bool]] = Field(default_factory=dict)
    """instance id -> did TTS@k resolve, for each k."""


def tts_curve(
    graded: dict[str, Sequence[Candidate]], rule: Selection = Selection.SIGNALS
) -> TTSCurve:
    """The curve over k = 1..K from K graded candidates per task (every candidate carries
    its oracle `label`; tasks with fewer candidates count what they have)."""
    if not graded:
        raise ValueError("tts_curve needs at least one task")
    top = max(len(cs) for cs in graded.values())
    ks = list(range(1, top + 1))
    per_task: dict[str, list[bool]] = {}
    pass_k = [0.0] * top
    pass_1 = 0.0
    for instance_id, candidates in graded.items():
        ordered = sorted(candidates, key=lambda c: c.attempt)
        if any(c.label is None for c in ordered):
            raise ValueError(f"{instance_id}: every candidate needs its oracle label")
        resolved = [c.label is Label.RESOLVED for c in ordered]
        pass_1 += sum(resolved) / len(resolved) if resolved else 0.0
        row = []
        for i, k in enumerate(ks):
            first = ordered[:k]
            chosen = choose(first, rule)
            row.append(chosen is not None and resolved[[c.attempt for c in first].index(chosen)])
            pass_k[i] += float(any(resolved[:k]))
        per_task[instance_id] = row
    n = len(graded)
    return TTSCurve(
        tasks=n,
        k=ks,
        tts_at_k=[round(sum(r[i] for r in per_task.values()) / n, 4) for i in range(top)],
        pass_at_k=[round(v / n, 4) for v in pass_k],
        pass_at_1=round(pass_1 / n, 4),
        selection=rule.value,
        per_task=per_task,
    )
