"""Difficulty curriculum: buckets, a staged schedule and an ordered, DDP-sharded sampler.

Difficulty = number of assistant turns of the trajectory (before any truncation), or
its token length (`feature: tokens`). Default buckets (the SWE-Lego paper's): easy
[0, 50), medium [50, 70), hard [70, 100]; above the last bound: into the last bucket, or
dropped (`overflow: drop`). Stages run easy -> medium -> hard.

Defaults the paper does not publish (chosen here, see docs/sft.md):
- disjoint stages (`cumulative: false`): each stage trains only its own bucket;
- `epochs_per_stage: 4`: every trajectory is seen 4 times, exactly the paper's 4 epochs,
  so the curriculum changes the order of the data and nothing else (same compute, same
  exposure per example as the non-curriculum baseline).

Batches: within a stage-epoch the examples are shuffled (seeded by seed, stage, epoch),
sorted by length, cut into global batches of `world_size * batch_size`, and the global
batches are shuffled; rank r takes slice r of each. So a micro-batch holds neighbours in
length (little padding) and all ranks step in lock-step on similar lengths. A stage-epoch
is filled up to a whole number of optimizer steps (`grad_accum` global batches) by
repeating its first examples, so every rank runs the same number of steps and no example
is dropped.
"""

from __future__ import annotations

import logging
import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

logger = logging.getLogger(__name__)


class Bucket(BaseModel):
    """Difficulty range [low, high); the last bucket also takes `high` itself."""

    model_config = ConfigDict(extra="forbid")

    name: str
    low: float
    high: float


def _default_buckets() -> list[Bucket]:
    return [
        Bucket(name="easy", low=0, high=50),
        Bucket(name="medium", low=50, high=70),
        Bucket(name="hard", low=70, high=100),
    ]


class CurriculumConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """False: one stage, `all`, over every example (no ordering by difficulty)."""
    feature: Literal["assistant_turns", "tokens"] = "assistant_turns"
    buckets: list[Bucket] = Field(default_factory=_default_buckets)
    overflow: Literal["last", "drop"] = "last"
    """Difficulty above the last bucket's high: put it in the last bucket, or drop it."""
    stages: list[str] = ["easy", "medium", "hard"]
    """Bucket names in training order (a bucket may be left out)."""
    cumulative: bool = False
    """True: stage k trains on the buckets of stages 0..k; False: only on its own bucket."""
    epochs_per_stage: int | list[int] = 4
    """One number for every stage, or one per stage."""
    bucket_percentiles: list[float] | None = None
    """Bucket bounds from the data's own difficulty percentiles instead of the fixed
    `buckets` ranges: k buckets take k-1 ascending percentiles in (0, 100), e.g.
    [33.3, 66.7] for three equal thirds (the bucket names are kept)."""

    @model_validator(mode="after")
    def _check(self) -> CurriculumConfig:
        pct = self.bucket_percentiles
        if pct is not None:
            if len(pct) != len(self.buckets) - 1:
                raise ValueError(
                    f"curriculum.bucket_percentiles needs {len(self.buckets) - 1} values for "
                    f"{len(self.buckets)} buckets, got {pct}"
                )
            if any(not 0 < x < 100 for x in pct) or pct != sorted(set(pct)):
                raise ValueError(
                    f"curriculum.bucket_percentiles must ascend strictly within (0, 100): {pct}"
                )
        names = [b.name for b in self.buckets]
        if len(set(names)) != len(names):
            raise ValueError(f"curriculum.buckets: duplicate bucket names {names}")
        for a, b in zip(self.buckets, self.buckets[1:], strict=False):
            if not (a.low < a.high <= b.low < b.high):
                raise ValueError(
                    f"curriculum.buckets must be ascending and non-overlapping: {a.name} "
                    f"[{a.low}, {a.high}) then {b.name} [{b.low}, {b.high})"
                )
        if self.enabled:
            unknown = [s for s in self.stages if s not in names]
            if unknown or not self.stages:
                raise ValueError(f"curriculum.stages {self.stages}: each must be one of {names}")
        epochs = self.epochs_per_stage
        if isinstance(epochs, list) and self.enabled and len(epochs) != len(self.stages):
            raise ValueError(
                f"curriculum.epochs_per_stage has {len(epochs)} entries for "
                f"{len(self.stages)} stages"
            )
        if any(e < 1 for e in (epochs if isinstance(epochs, list) else [epochs])):
            raise ValueError("curriculum.epochs_per_stage must be >= 1")
        return self

    def epochs_for(self, stage: int) -> int:
        e = self.epochs_per_stage
        return e[stage] if isinstance(e, list) else e

    def for_data(self, difficulties: Sequence[float]) -> CurriculumConfig:
        """This config with buckets cut at the data's percentiles (when configured)."""
        if self.bucket_percentiles is None or not difficulties:
            return self
        values = sorted(difficulties)
        bounds = [min(0.0, values[0])]
        for pct in self.bucket_percentiles:
            bounds.append(_cut(values, pct, above=bounds[-1]))
        bounds.append(max(values[-1], bounds[-1] + 1e-6))
        buckets = [
            Bucket(name=b.name, low=lo, high=hi)
            for b, lo, hi in zip(self.buckets, bounds, bounds[1:], strict=False)
        ]
        return self.model_copy(update={"buckets": buckets, "bucket_percentiles": None})


def _cut(sorted_values: Sequence[float], pct: float, above: float) -> float:
    """The bucket bound (> `above`) that leaves the count of smaller values closest to
    `pct` % of them. Bounds fall on data values, so tied values (turn counts are integers)
    stay in one bucket: 15 eights and 13 nines cut at 33 % give [0, 9) and [9, ...), not
    an empty first bucket and every eight in the second."""
    target = len(sorted_values) * pct / 100
    candidates = [v for v in dict.fromkeys(sorted_values) if v > above]
    candidates.append(sorted_values[-1] + 1)
    return min(candidates, key=lambda c: (abs(bisect_left(sorted_values, c) - target), c))


def bucket_of(value: float, config: CurriculumConfig) -> str | None:
    """The bucket name for one difficulty value, or None if it is dropped."""
    buckets = config.buckets
    for b in buckets:
        if b.low <= value < b.high:
            return b.name
    last = buckets[-1]
    if value == last.high or (value > last.high and config.overflow == "last"):
        return last.name
    return None


def assign_buckets(values: Sequence[float], config: CurriculumConfig) -> list[str | None]:
    return [bucket_of(v, config) for v in values]


def difficulty_of(example: Any, config: CurriculumConfig) -> float:
    """The configured difficulty feature of an SFTExample (or any object with
    `n_assistant_turns` and `input_ids`)."""
    if config.feature == "tokens":
        return float(len(example.input_ids))
    return float(example.n_assistant_turns)


@dataclass(frozen=True)
class Stage:
    name: str
    indices: tuple[int, ...]
    epochs: int


@dataclass(frozen=True)
class CurriculumSchedule:
    stages: tuple[Stage, ...]
    dropped: dict[str, int]
    """Examples left out and why (e.g. `difficulty_out_of_range`, `bucket_not_in_stages`)."""
    ranges: tuple[tuple[str, float, float], ...] = ()
    """(bucket, low, high) the stages used (percentile buckets resolved on the data)."""

    @classmethod
    def build(cls, difficulties: Sequence[float], config: CurriculumConfig) -> CurriculumSchedule:
        if not config.enabled:
            stage = Stage("all", tuple(range(len(difficulties))), config.epochs_for(0))
            return cls((stage,), {})
        config = config.for_data(difficulties)
        names = assign_buckets(difficulties, config)
        dropped: Counter[str] = Counter()
        by_bucket: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            if name is None:
                dropped["difficulty_out_of_range"] += 1
            elif name not in config.stages:
                dropped["bucket_not_in_stages"] += 1
            else:
                by_bucket.setdefault(name, []).append(i)
        stages = []
        for k, name in enumerate(config.stages):
            members = config.stages[: k + 1] if config.cumulative else [name]
            indices = sorted(i for m in dict.fromkeys(members) for i in by_bucket.get(m, []))
            stages.append(Stage(name, tuple(indices), config.epochs_for(k)))
        ranges = tuple((b.name, b.low, b.high) for b in config.buckets)
        return cls(tuple(stages), dict(dropped), ranges)

    def render(self) -> str:
        lines = [f"curriculum: {len(self.stages)} stage(s)"]
        bounds = {name: (lo, hi) for name, lo, hi in self.ranges}
        last = self.ranges[-1][0] if self.ranges else None
        for k, s in enumerate(self.stages):
            close = "]" if s.name == last else ")"  # the last bucket also takes its high
            span = (
                f" [{bounds[s.name][0]:g}, {bounds[s.name][1]:g}{close}" if s.name in bounds else ""
            )
            lines.append(
                f"  stage {k} {s.name}{span}: {len(s.indices)} examples x {s.epochs} epochs"
            )
        lines += [f"  dropped {reason}: {n}" for reason, n in self.dropped.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class MicroBatch:
    indices: list[int]
    stage: int
    stage_name: str
    epoch: int
    """Epoch within the stage."""
    position: int
    """Index of this micro-batch in the stage-epoch (the same on every rank)."""
    last_of_epoch: bool


class CurriculumSampler:
    """Per-rank micro-batches, stage by stage; deterministic and resumable.

    Every rank yields the same number of micro-batches per stage-epoch (a multiple of
    `grad_accum`), so the ranks' collective calls line up.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        schedule: CurriculumSchedule,
        *,
        rank: int,
        world_size: int,
        seed: int = 0,
        batch_size: int = 1,
        grad_accum: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.lengths = list(lengths)
        self.schedule = schedule
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.batch_size, self.grad_accum = batch_size, grad_accum
        self._pos = 0  # micro-batches already yielded (on this rank) across the whole run
        empty = [s.name for s in schedule.stages if not s.indices]
        if empty:
            logger.warning("curriculum stages without examples (skipped): %s", empty)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.schedule.stages]

    def _global_batches(self, stage: int, epoch: int) -> list[list[int]]:
        indices = list(self.schedule.stages[stage].indices)
        if not indices:
            return []
        rng = random.Random(f"{self.seed}/{stage}/{epoch}")
        rng.shuffle(indices)
        per = self.world_size * self.batch_size
        n_batches = -(-len(indices) // per)
        n_batches = -(-n_batches // self.grad_accum) * self.grad_accum
        filled = [indices[i % len(indices)] for i in range(n_batches * per)]
        order = sorted(range(len(filled)), key=lambda i: (self.lengths[filled[i]], i))
        ordered = [filled[i] for i in order]
        batches = [ordered[k : k + per] for k in range(0, len(ordered), per)]
        steps = [batches[k : k + self.grad_accum] for k in range(0, n_batches, self.grad_accum)]
        rng.shuffle(steps)  # shuffle whole optimizer steps, keep length-neighbours together
        return [b for step in steps for b in step]

    def stage_batches(self, stage: int, epoch: int) -> list[list[int]]:
        """This rank's micro-batches for one stage-epoch."""
        lo = self.rank * self.batch_size
        return [g[lo : lo + self.batch_size] for g in self._global_batches(stage, epoch)]

    def batches_per_epoch(self) -> list[tuple[int, int, int]]:
        """(stage, epoch, micro-batches per rank) in training order."""
        per = self.world_size * self.batch_size
        out = []
        for k, s in enumerate(self.schedule.stages):
            n = -(-len(s.indices) // per)
            n = -(-n // self.grad_accum) * self.grad_accum
            out += [(k, e, n) for e in range(s.epochs)]
        return out

    def __len__(self) -> int:
        return sum(n for _, _, n in self.batches_per_epoch())

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the whole run."""
        return len(self) // self.grad_accum

    def __iter__(self) -> Iterator[MicroBatch]:
        """Micro-batches from the current position to the end of the run."""
        seen = 0
        for stage, epoch, n in self.batches_per_epoch():
            if seen + n <= self._pos:
                seen += n
                continue
            batches = self.stage_batches(stage, epoch)
            name = self.schedule.stages[stage].name
            for j in range(self._pos - seen, n):
                self._pos = seen + j + 1
                yield MicroBatch(batches[j], stage, name, epoch, j, j == n - 1)
            seen += n

    def padding_fraction(self) -> float:
        """Padding tokens / batch tokens over this rank's whole plan (pad to the longest)."""
        padded = real = 0
        for stage, epoch, _ in self.batches_per_epoch():
            for b in self.stage_batches(stage, epoch):
                lens = [self.lengths[i] for i in b]
                padded += max(lens) * len(lens)
                real += sum(lens)
        return 1 - real / padded if padded else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self._pos,
            "seed": self.seed,
            "world_size": self.world_size,
            "batch_size": self.batch_size,
            "grad_accum": self.grad_accum,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "world_size", "batch_size", "grad_accum"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"cannot resume the curriculum with {key}={getattr(self, key)}: the "
                    f"checkpoint was written with {key}={state[key]}"
                )
        if not 0 <= state["position"] <= len(self):
            raise ValueError(f"curriculum position {state['position']} is outside the plan")
        self._pos = state["position"]
