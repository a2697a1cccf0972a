"""Typed records the report reads (written by other stages) and the sections it builds.

Two records are written FOR the report by the demo:
- `TTSResult` in `<run>/tts.json`: the test-time-scaling curve (resolved rate per K).
- `Timings` in `<run>/timings.json`: wall time per stage (without it the report derives
  times from the stages' own `started_at` / `finished_at` stamps).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.ablate.records import AblationResult
from swelego_ray.serve.selection import TTSCurve

TTS_FILE = "tts.json"
ABLATION_FILE = "ablate/ablation.json"
TIMINGS_FILE = "timings.json"


class TTSPoint(BaseModel):
    """One K of the TTS@K curve."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(ge=1)
    """Candidate patches sampled per task."""
    resolved_rate: float = Field(ge=0, le=1)
    """TTS@K: share of tasks whose verifier-selected patch (best of K) resolves."""
    oracle_rate: float | None = Field(None, ge=0, le=1)
    """Pass@K: share of tasks where ANY of the K patches resolves (the selector's ceiling)."""


class TTSResult(BaseModel):
    """`tts.json`: the served policy's test-time scaling on `tasks` tasks."""

    model_config = ConfigDict(extra="forbid")

    tasks: int = Field(ge=0)
    pass_at_1: float = Field(ge=0, le=1)
    """Share of tasks one sampled patch resolves (mean over samples)."""
    points: list[TTSPoint]
    policy: str = ""
    """The served policy (model path or name)."""
    verifier: str = ""
    """The verifier that picks among the K candidates."""
    hack_free: bool = True
    """Graded hack-free (fresh sandbox, tests applied after the patch)."""
    rollouts_by: str = ""
    """Who played the rollouts (the served policy, or the replay teacher in the demo)."""
    selection: str = ""
    """How the candidate was chosen (swelego_ray.serve.selection.Selection)."""

    @classmethod
    def from_curve(cls, curve: TTSCurve, **about: str) -> TTSResult:
        """The record of a measured curve (`swelego tts --eval`'s TTSEvaluation.curve)."""
        points = [
            TTSPoint(k=k, resolved_rate=tts, oracle_rate=oracle)
            for k, tts, oracle in zip(curve.k, curve.tts_at_k, curve.pass_at_k, strict=True)
        ]
        return cls(
            tasks=curve.tasks,
            pass_at_1=curve.pass_at_1,
            points=points,
            selection=curve.selection,
            **about,
        )


class StageTiming(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    seconds: float = Field(ge=0)
    reused: bool = False
    """Finished by an earlier run and reused (its time is that of the reuse)."""


class Timings(BaseModel):
    """`timings.json`: wall time per stage, in the order they ran."""

    model_config = ConfigDict(extra="forbid")

    stages: list[StageTiming]


class FunnelRow(BaseModel):
    """One stage's funnel: items in, items out, drops by reason."""

    stage: str
    seen: int
    kept: int
    reused: int = 0
    dropped: dict[str, int] = {}
    notes: dict[str, int] = {}
    """Events of items that went on (synthesis: a rejected statement replaced)."""


class LossCurve(BaseModel):
    """The loss of one training run per optimizer step, with its curriculum stage."""

    name: str
    steps: list[int]
    loss: list[float]
    stage_names: list[str]


class BucketRow(BaseModel):
    """One curriculum stage: its difficulty range, examples, epochs, optimizer steps."""

    name: str
    low: float | None = None
    high: float | None = None
    closed: bool = False
    """The range includes `high` (the last bucket)."""
    examples: int
    epochs: int
    steps: int = 0


class MaskingSection(BaseModel):
    turns: int
    masked_turns: int
    masked_token_fraction: float | None = None
    by_rule: dict[str, int]
    """Masked assistant turns per rule (the first rule that fired)."""

    def fraction(self, rule: str) -> float:
        return self.by_rule[rule] / self.turns if self.turns else 0.0


class ReportData(BaseModel):
    """Every section of the report; None = the stage did not run (or left nothing)."""

    run_dir: str
    funnels: list[FunnelRow] = []
    provenance: dict[str, int] | None = None
    synthesis: list[FunnelRow] = []
    """Synthesis per strategy (ast, llm, ...): candidates in, tasks written, drops by reason."""
    curriculum: list[BucketRow] | None = None
    curriculum_text: str | None = None
    """The schedule as the SFT stage printed it (when it could not be read as rows)."""
    loss: list[LossCurve] = []
    masking: MaskingSection | None = None
    labels: dict[str, int] | None = None
    evaluations: dict[str, dict[str, int]] = {}
    """Evaluation run -> resolved / unresolved / empty patch / error counts."""
    tts: TTSResult | None = None
    ablation: AblationResult | None = None
    timings: list[StageTiming] = []
    problems: list[str] = []
    """Inputs that exist but could not be read: file and reason."""


class ReportPaths(BaseModel):
    markdown: Path
    html: Path
