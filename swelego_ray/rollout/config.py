"""The rollout stage's config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from swelego_ray.agent.loop import AgentConfig
from swelego_ray.agent.replay import ReplayConfig
from swelego_ray.llm import LLMConfig
from swelego_ray.runconfig import StageRunConfig


class ReplayTeacherSpec(BaseModel):
    """The replay teacher (a scripted episode from the gold patch; tests and demos)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["replay"] = "replay"
    replay: ReplayConfig = Field(default_factory=ReplayConfig)


class EndpointTeacherSpec(BaseModel):
    """An OpenAI-compatible endpoint (vLLM, Ray Serve, a hosted model)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["endpoint"] = "endpoint"
    llm: LLMConfig


TeacherSpec = ReplayTeacherSpec | EndpointTeacherSpec


class RolloutConfig(StageRunConfig):
    """Everything one rollout run needs; rejected as a whole before any work starts.
    The run settings (backend, workers, limits, Ray) are StageRunConfig's; `timeout_s`
    bounds one whole item (episode + judge)."""

    tasks: str
    """Validated tasks file (.jsonl / .json / .parquet), path or s3:// URI."""
    out: str
    """Where per-episode results, trajectories.jsonl, sft.jsonl, sharegpt.jsonl and
    rollout.json go."""
    repos_dir: str | None = None
    teacher: TeacherSpec = Field(default_factory=ReplayTeacherSpec, discriminator="kind")
    agent: AgentConfig = Field(default_factory=AgentConfig)
    k: int = Field(1, ge=1, le=64)
    """Episodes per task (each from the task's kept start state)."""
    instance_ids: list[str] | None = None
    force: bool = False
    """Run every episode again, ignoring finished ones in `out`."""
    timeout_s: float = Field(7200.0, gt=0)
    """Host-side deadline of one item: start, episode (`agent.episode_timeout_s`), judge."""

    @model_validator(mode="after")
    def _check(self) -> RolloutConfig:
        if self.teacher.kind == "replay" and self.teacher.replay.call_form != self.agent.call_form:
            self.teacher.replay = self.teacher.replay.model_copy(
                update={"call_form": self.agent.call_form}
            )
        if self.timeout_s <= self.agent.episode_timeout_s:
            raise ValueError(
                f"the per-item deadline (timeout_s={self.timeout_s}) must exceed the episode "
                f"deadline (agent.episode_timeout_s={self.agent.episode_timeout_s}): the judge "
                "runs after the episode"
            )
        return self
