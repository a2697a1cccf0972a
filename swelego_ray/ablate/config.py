"""The ablation's settings: which trajectories, how they are cut down, how each arm
trains (the `tiny_cpu` SFT preset plus the overrides here) and how arms are scored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Arm(BaseModel):
    """One training arm: error masking on/off x curriculum on/off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    masking: bool
    curriculum: bool

    @property
    def name(self) -> str:
        return f"mask-{'on' if self.masking else 'off'}_curr-{'on' if self.curriculum else 'off'}"


ARMS: tuple[Arm, ...] = tuple(
    Arm(masking=m, curriculum=c) for m in (True, False) for c in (True, False)
)


class AblateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str
    """Directory for data/, base-model/, arms/<arm>/ (each an SFT run), ablation.json/.md."""
    trajectories: str | None = None
    """Replay-teacher trajectories (e.g. a rollout's sft.jsonl). None: roll out the bundled
    sample tasks with the replay teacher (mistakes on) into `out`/rollout first."""

    # -- the rollout made when no trajectories are given ----------------------------------
    episodes_per_task: int = Field(3, ge=1)
    """Replay episodes per sample task (each with its own seeded mistakes)."""
    mistake_rate: float = Field(0.3, gt=0, le=1)
    workers: int = Field(2, ge=1)
    """Rollout items in flight."""

    # -- data -------------------------------------------------------------------------------
    heldout_fraction: float = Field(0.25, gt=0, lt=1)
    """Share of TASKS held out (all their episodes): scored, never trained on."""
    observation_chars: int = Field(160, ge=40)
    """Tool outputs are cut to this many characters (head and tail kept) and the tool
    schemas left out of the prompt: the cheap setting (a 2-core machine trains 4 arms in
    minutes); the masking rules still see the errors (they are short)."""
    seed: int = 0

    # -- training (overrides of the tiny_cpu preset) -------------------------------------
    epochs: int = Field(2, ge=1)
    """Epochs per curriculum stage; without the curriculum the same number over all data,
    so every arm sees each example equally often (only the order differs)."""
    grad_accum: int = Field(2, ge=1)
    lr: float = Field(3e-3, gt=0)
    max_length: int = Field(4096, ge=256)

    # -- scoring ----------------------------------------------------------------------------
    max_new_tokens: int = Field(64, ge=4)
    """Tokens generated per sampled turn."""
    temperature: float = Field(0.8, ge=0)
    """Sampling temperature of the sampled turns (seeded); 0 = greedy (a tiny model's
    greedy replies loop on one token)."""
    max_sampled_turns: int = Field(24, ge=1)
    """Held-out turns sampled per arm (every injected-mistake position included)."""
    generate_batch: int = Field(32, ge=1)
    """Sampled turns generated together (left-padded)."""
