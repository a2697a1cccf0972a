"""The TTS route's request and response records (validated at the edge: a bad request is
a 4xx naming the field, never a crash inside a rollout)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from swelego_ray.schema import Label, Task, Trajectory


class IssueTask(BaseModel):
    """A repository and an issue text (no tests: candidates cannot be graded)."""

    model_config = ConfigDict(extra="forbid")

    repo: str = Field(min_length=1)
    """The repository as the server's mirrors name it (`owner/name`)."""
    base_commit: str = Field(pattern=r"^[0-9a-f]{7,40}$")
    problem_statement: str = Field(min_length=1)
    version: str = ""

    def task(self) -> Task:
        slug = self.repo.replace("/", "__")
        return Task(
            instance_id=f"{slug}-issue-{self.base_commit[:12]}",
            repo=self.repo,
            base_commit=self.base_commit,
            problem_statement=self.problem_statement,
            version=self.version,
        )


class TTSRequest(BaseModel):
    """POST /v1/tts: one task, K rollouts, the verifier's choice."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str | None = None
    """A task the server knows (its `tts.tasks` files)."""
    task: Task | None = None
    """A SWE-bench-format record (its repository must be in the server's mirrors)."""
    issue: IssueTask | None = None
    k: int | None = Field(None, ge=1)
    """Parallel rollouts (default and upper bound: the server's config)."""
    max_turns: int | None = Field(None, ge=1)
    """Turn budget per rollout."""
    early_stop_score: float | None = Field(None, gt=0, le=1)
    seed: int = Field(0, ge=0)
    teacher: Literal["policy", "replay"] | None = None
    """Who plays the rollouts (default: the server's `tts.teacher`; `replay` only where
    the server allows it)."""
    judge: bool = False
    """Also grade every candidate with the task's tests, after the choice (for TTS@K
    measurements; the choice never sees the grades)."""

    @model_validator(mode="after")
    def _one_task(self) -> TTSRequest:
        given = [n for n in ("instance_id", "task", "issue") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of instance_id, task, issue (got {given or 'none'})"
            )
        if self.judge and self.issue is not None:
            raise ValueError("judge needs a task with tests: an issue has none")
        return self


class CandidateSignals(BaseModel):
    """Execution signals of one candidate (no test outcome among them)."""

    model_config = ConfigDict(extra="forbid")

    nonempty: bool = False
    """The final patch changes something."""
    submitted: bool = False
    """The agent called `finish` (rather than running out of turns or time)."""
    git_hacking: bool = False
    """It ran git commands that read other commits (the project's hacking scan)."""


class Candidate(BaseModel):
    """One rollout of a TTS request."""

    model_config = ConfigDict(extra="forbid")

    attempt: int
    ok: bool
    """False: the rollout gave no patch (its sandbox failed, it crashed, timed out, or was
    cancelled by an early stop); `error` says why."""
    error: str = ""
    patch: str = ""
    end_reason: str | None = None
    turns: int = 0
    score: float | None = None
    """The verifier's p(YES)."""
    signals: CandidateSignals = Field(default_factory=CandidateSignals)
    label: Label | None = None
    """The oracle grade (only when the request asked `judge`)."""
    start_s: float = 0.0
    episode_s: float = 0.0
    score_s: float = 0.0
    judge_s: float = 0.0
    started_at: float = 0.0
    """Wall clock (epoch seconds) of the rollout's start and end on its worker."""
    finished_at: float = 0.0
    trajectory: Trajectory | None = None
    """The episode (only when the request asked for it)."""


class TTSTimings(BaseModel):
    """Where a request's time went (seconds)."""

    model_config = ConfigDict(extra="forbid")

    prepare_s: float = 0.0
    """Task lookup and environment description."""
    rollouts_s: float = 0.0
    """From the first rollout's start to the last candidate's score."""
    select_s: float = 0.0
    total_s: float = 0.0


class TTSResponse(BaseModel):
    """The chosen patch, every candidate with its score, and the timings."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    k: int
    max_turns: int
    chosen: int | None
    """The chosen candidate's attempt; None when no candidate gave a patch."""
    patch: str
    candidates: list[Candidate]
    stopped_early: bool = False
    timings: TTSTimings
    selection: str

    def chosen_candidate(self) -> Candidate | None:
        return next((c for c in self.candidates if c.attempt == self.chosen), None)


class ErrorBody(BaseModel):
    """Every 4xx/5xx body (OpenAI's error shape)."""

    error: dict[str, Any]
