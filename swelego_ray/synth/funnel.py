"""The synthesis funnel, per strategy and transform: candidates -> applied -> compiles ->
FAIL_TO_PASS >= 1 -> stable -> written, with the reason of every drop, and notes on items
that went on (e.g. a rejected model statement replaced by the fallback writer's)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from swelego_ray.funnel import Funnel

STAGES = ("candidates", "applied", "compiles", "fail_to_pass", "stable", "written")


@dataclass
class StageCounts:
    """How many items reached each stage, why the others stopped, and what happened to
    items that went on (notes, not drops)."""

    reached: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def merge(self, other: StageCounts) -> None:
        self.reached.update(other.reached)
        self.dropped.update(other.dropped)
        self.notes.update(other.notes)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{stage: self.reached[stage] for stage in STAGES},
            "dropped": dict(self.dropped.most_common()),
            "notes": dict(self.notes.most_common()),
        }


@dataclass
class SynthFunnel:
    """Counts keyed by (strategy, transform)."""

    rows: dict[tuple[str, str], StageCounts] = field(default_factory=dict)
    reused: int = 0  # validation results taken from an earlier run

    def _row(self, key: tuple[str, str]) -> StageCounts:
        return self.rows.setdefault(key, StageCounts())

    def reach(self, key: tuple[str, str], stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown funnel stage {stage!r}; stages: {', '.join(STAGES)}")
        self._row(key).reached[stage] += 1

    def drop(self, key: tuple[str, str], reason: str) -> None:
        self._row(key).dropped[reason] += 1

    def note(self, key: tuple[str, str], what: str) -> None:
        """Count an event of an item that went on (it is no drop)."""
        self._row(key).notes[what] += 1

    def total(self) -> StageCounts:
        out = StageCounts()
        for row in self.rows.values():
            out.merge(row)
        return out

    def by_strategy(self) -> dict[str, StageCounts]:
        out: dict[str, StageCounts] = {}
        for (strategy, _), row in sorted(self.rows.items()):
            out.setdefault(strategy, StageCounts()).merge(row)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": list(STAGES),
            "total": self.total().as_dict(),
            "reused_from_earlier_run": self.reused,
            "by_strategy": {k: v.as_dict() for k, v in self.by_strategy().items()},
            "by_transform": {
                f"{s}/{t}": row.as_dict() for (s, t), row in sorted(self.rows.items())
            },
        }

    def as_funnel(self) -> Funnel:
        """The stage's overall Funnel (jobs print it and derive their exit code from it):
        in = candidates proposed, out = tasks written, drops by reason."""
        total = self.total()
        funnel = Funnel("synth", seen=total.reached["candidates"], kept=total.reached["written"])
        funnel.dropped.update(total.dropped)
        funnel.skipped_cached = self.reused
        return funnel

    def render(self) -> str:
        """A table, one line per strategy/transform, for the end of a CLI command."""
        head = f"{'strategy/transform':36}" + "".join(f"{s[:12]:>13}" for s in STAGES)
        lines = [head]
        for (strategy, transform), row in sorted(self.rows.items()):
            counts = "".join(f"{row.reached[s]:>13}" for s in STAGES)
            lines.append(f"{strategy + '/' + transform:36}{counts}")
        total = self.total()
        lines.append(f"{'total':36}" + "".join(f"{total.reached[s]:>13}" for s in STAGES))
        lines += [f"  dropped {reason}: {n}" for reason, n in total.dropped.most_common()]
        lines += [f"  note {what}: {n}" for what, n in total.notes.most_common()]
        return "\n".join(lines)
