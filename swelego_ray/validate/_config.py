"""The validation config."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from swelego_ray.runconfig import StageRunConfig


class ChangeKind(StrEnum):
    """What a candidate's `patch` is."""

    AUTO = "auto"  # FIX for real tasks, BUG for synthetic ones
    FIX = "fix"  # the gold patch of a real task: broken = base + test_patch
    BUG = "bug"  # an injected bug: broken = clean + bug, fixed = clean


class ValidateConfig(StageRunConfig):
    """Everything one validation run needs; rejected as a whole before any work starts.
    The run settings (backend, workers, limits, Ray) are StageRunConfig's."""

    candidates: str
    """Candidate tasks file (.jsonl / .json / .parquet), path or s3:// URI."""
    out: str
    """Where results, tasks.jsonl (kept), dropped.jsonl and validation.json go."""
    repos_dir: str | None = None
    change: ChangeKind = ChangeKind.AUTO
    runs: int = Field(2, ge=1)
    """Runs of each state; a test whose outcome differs between runs is dropped as flaky."""
    min_fail_to_pass: int = Field(1, ge=1)
    min_pass_to_pass: int = Field(0, ge=0)
    timeout_s: float = Field(3600.0, gt=0)
    """Host-side deadline per item (one baseline or one candidate, all its runs)."""
    force: bool = False

    @model_validator(mode="after")
    def _check(self) -> ValidateConfig:
        if self.timeout_s <= self.limits.timeout_s * self.runs:
            raise ValueError(
                f"the per-item deadline (timeout_s={self.timeout_s}) must exceed runs x the "
                f"per-command timeout ({self.runs} x {self.limits.timeout_s})"
            )
        return self
