"""Trajectories for the ablation: read, cut down (short observations, no tool schemas in
the prompt), split by task into train / held-out, and the injected mistakes located."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from swelego_ray.schema import Trajectory, read_trajectories, write_trajectories

MISTAKE_RULES = ("editor_error", "command_not_found")
"""Masking rules that fire on the replay teacher's injected mistakes (a mistyped `old_str`,
a mistyped command)."""


class AblationDataError(ValueError):
    """The trajectories cannot support an ablation (too few tasks, unreadable file)."""


@dataclass(frozen=True)
class Mistake:
    """An injected mistake: assistant turn `turn` (its index among the assistant turns)
    was masked by `rule`; turn `turn + 1` is the teacher's correction."""

    turn: int
    rule: str


@dataclass
class Split:
    train: list[Trajectory]
    heldout: list[Trajectory]
    mistakes: dict[int, list[Mistake]]
    """Held-out trajectory index -> its injected mistakes."""
    unreadable: int = 0


def load_split(path: Path, *, heldout_fraction: float, observation_chars: int, seed: int) -> Split:
    """Read `path`, cut every trajectory down, hold out whole tasks."""
    from swelego_ray.sft.masking import decide_masks

    result = read_trajectories(path)
    trajectories = [compact(t, observation_chars) for t in result.trajectories]
    tasks = sorted({t.instance_id for t in trajectories})
    if len(tasks) < 2:
        raise AblationDataError(
            f"{path}: {len(tasks)} task(s) readable ({len(result.errors)} rows unreadable); "
            "the ablation holds out whole tasks and needs at least 2"
        )
    order = sorted(tasks, key=lambda t: hashlib.sha256(f"{seed}:{t}".encode()).hexdigest())
    held = set(order[: max(1, min(len(tasks) - 1, math.ceil(heldout_fraction * len(tasks))))])
    train = [t for t in trajectories if t.instance_id not in held]
    heldout = [t for t in trajectories if t.instance_id in held]
    mistakes = {}
    for i, traj in enumerate(heldout):
        decisions = decide_masks(traj)
        mistakes[i] = [
            Mistake(turn=n, rule=str(d.reason))
            for n, d in enumerate(decisions[:-1])
            if d.masked and d.reason in MISTAKE_RULES
        ]
    return Split(train, heldout, mistakes, unreadable=len(result.errors))


def compact(traj: Trajectory, observation_chars: int) -> Trajectory:
    """Tool outputs cut to head + tail (`observation_chars` in all); tool schemas dropped
    (the prompt then carries only the system and issue text)."""
    messages = []
    for i, m in enumerate(traj.messages):
        if m.role == "tool" or (m.role == "user" and i > 1):
            m = m.model_copy(update={"content": _cut(m.content, observation_chars)})
        messages.append(m)
    return traj.model_copy(update={"messages": messages, "tools": []})


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


def write_split(split: Split, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    return (
        write_trajectories(split.train, out / "train.jsonl"),
        write_trajectories(split.heldout, out / "heldout.jsonl"),
    )
