"""The TTS service's config: the policy, the verifier, test-time scaling and HTTP.

One YAML file (or the `args` of `serve run swelego_ray.serve.app:build_app`) holds it:

    policy: {model: /models/policy, engine: vllm-cpu}
    verifier: {model: /models/verifier, max_batch_size: 8}
    tts: {tasks: [tasks.jsonl], k_default: 4, k_max: 16, max_turns: 30}
    http: {host: 127.0.0.1, port: 8000}

Every field is validated on the driver before anything starts: a typo is one error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from swelego_ray.agent.loop import AgentConfig
from swelego_ray.agent.replay import ReplayConfig
from swelego_ray.llm import SamplingSettings
from swelego_ray.llm.local_server import is_loopback
from swelego_ray.runconfig import StageRunConfig

API_KEY_ENV = "SWELEGO_API_KEY"


class Autoscaling(BaseModel):
    """Replica bounds of one deployment (Ray Serve autoscaling)."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_ongoing_requests: float = Field(4.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) > max_replicas ({self.max_replicas})"
            )
        return self

    def serve_options(self) -> dict[str, Any]:
        return {"autoscaling_config": self.model_dump()}


class PolicySpec(BaseModel):
    """The policy model, served by Ray Serve LLM (vLLM) as an OpenAI-compatible model."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """A Hugging Face model directory (or a hub id / s3:// URI on machines that reach it)."""
    model_id: str = "policy"
    """The name clients ask for (`model` of /v1/chat/completions)."""
    engine: Literal["vllm", "vllm-cpu"] = "vllm-cpu"
    """`vllm` on GPUs (one GPU per replica unless `gpus` says more); `vllm-cpu` here."""
    gpus: int = Field(1, ge=1)
    """Tensor-parallel GPUs per replica (engine `vllm`)."""
    accelerator_type: str | None = None
    """e.g. "A10G", "H100": the node type the autoscaler brings up for it."""
    cpus: float = Field(1.0, gt=0)
    """CPUs of the replica's engine bundle (engine `vllm-cpu`)."""
    bundle_resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources each engine bundle also asks for, e.g. {serve_replica: 1} so
    replicas land on (and autoscale) the serving node type of cluster/node_types.yaml."""
    max_model_len: int = Field(4096, ge=128)
    dtype: str = "auto"
    tool_call_parser: str | None = "hermes"
    """vLLM's parser for native tool calls (`hermes` matches Qwen3's template)."""
    kv_cache_gib: int = Field(1, ge=1)
    """KV cache of the CPU engine (VLLM_CPU_KVCACHE_SPACE)."""
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Any other vLLM engine argument (they win over the fields above)."""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)

    @model_validator(mode="after")
    def _local_model(self) -> PolicySpec:
        path = Path(self.model)
        if path.exists() and not (path / "config.json").is_file():
            raise ValueError(f"policy.model {self.model}: not a model directory (no config.json)")
        if path.exists():
            self.model = str(path.resolve())
        return self


class VerifierSpec(BaseModel):
    """The generative verifier: p(YES) of a judge prompt, batched across requests."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """A verifier checkpoint (`swelego train-verifier`'s export): a local directory, or an
    s3:// URI of one uploaded by the project (downloaded by each replica)."""
    max_batch_size: int = Field(8, ge=1, le=256)
    batch_wait_timeout_s: float = Field(0.05, ge=0, le=5)
    """How long a batch waits to fill before it runs."""
    device: str = "cpu"
    dtype: str = "float32"
    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)

    @model_validator(mode="after")
    def _local_model(self) -> VerifierSpec:
        if self.model.startswith("s3://"):
            return self
        path = Path(self.model)
        if not (path / "config.json").is_file():
            raise ValueError(f"verifier.model {self.model}: not a model directory (no config.json)")
        self.model = str(path.resolve())
        return self


class TTSSettings(StageRunConfig):
    """Test-time scaling: K parallel rollouts per request with a turn budget, each in its
    own sandbox on the sandbox nodes (the engine's async path, not inside the replica),
    scored by the verifier. The run settings (backend, limits, deadlines, resources) are
    StageRunConfig's; `workers` bounds the rollouts in flight per replica."""

    tasks: list[str] = Field(default_factory=list)
    """Validated task files (JSONL / JSON / Parquet) whose instance ids requests may name."""
    repos_dir: str | None = None
    """Local mirrors of the tasks' repositories (as for `swelego rollout --repos`)."""
    k_default: int = Field(4, ge=1)
    k_max: int = Field(16, ge=1, le=64)
    """The parallel budget's bounds: a request's `k` must lie in 1..k_max."""
    max_turns: int = Field(30, ge=1)
    """The sequential budget's default: assistant turns per rollout."""
    max_turns_max: int = Field(200, ge=1)
    episode_timeout_s: float = Field(1800.0, gt=0)
    teacher: Literal["policy", "replay"] = "policy"
    """Who plays the rollouts by default: the served policy (the real path), or the replay
    teacher (a scripted episode from the gold patch with seeded mistakes: demos and tests
    only; it needs tasks with gold patches)."""
    allow_replay: bool = False
    """Let a request ask for the replay teacher (`teacher: replay`): the demo measures
    the selection machinery with it where the tiny policy cannot solve anything."""
    replay: ReplayConfig = Field(default_factory=lambda: ReplayConfig(mistake_rate=0.3))
    call_form: Literal["native", "text"] = "native"
    sampling: SamplingSettings = Field(default_factory=lambda: SamplingSettings(max_tokens=512))
    """The policy's sampling in rollouts (a seed per rollout is derived from the request)."""
    policy_url: str | None = None
    """Where rollouts reach the policy; default: this Serve app's own HTTP address on the
    rollout's node (Ray Serve runs a proxy on every node)."""
    early_stop_score: float | None = Field(None, gt=0, le=1)
    """Stop waiting once a candidate with a non-empty, submitted patch scores at least
    this (the remaining rollouts are cancelled); None: always wait for all K."""
    judge_max_k: int = Field(16, ge=0)
    """Requests may ask for oracle grading (`judge: true`, for TTS@K measurements) only
    up to this K; grading runs after selection and never informs it."""
    timeout_s: float = Field(3600.0, gt=0)
    ingress_cpus: float = Field(0.25, ge=0)
    """CPUs of an ingress replica (it awaits rollouts and the verifier; little compute)."""
    cpus_per_item: float = Field(0.5, gt=0)
    """A rollout mostly waits on the policy: half a logical CPU each by default."""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)

    @model_validator(mode="after")
    def _budgets(self) -> TTSSettings:
        if self.k_default > self.k_max:
            raise ValueError(f"tts.k_default ({self.k_default}) > tts.k_max ({self.k_max})")
        if self.max_turns > self.max_turns_max:
            raise ValueError(
                f"tts.max_turns ({self.max_turns}) > tts.max_turns_max ({self.max_turns_max})"
            )
        if self.timeout_s <= self.episode_timeout_s:
            raise ValueError(
                f"tts.timeout_s ({self.timeout_s}) must exceed tts.episode_timeout_s "
                f"({self.episode_timeout_s}): the judge may run after the episode"
            )
        return self

    def agent(self, max_turns: int) -> AgentConfig:
        return AgentConfig(
            max_turns=max_turns,
            episode_timeout_s=self.episode_timeout_s,
            call_form=self.call_form,
        )


class HTTPSpec(BaseModel):
    """Where the app listens, and what it accepts."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: str | None = None
    """Bearer token every request must carry (default: $SWELEGO_API_KEY); required when
    `host` is not a loopback address."""
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    """Larger request bodies are refused with 413 before they are read whole."""

    @model_validator(mode="after")
    def _key(self) -> HTTPSpec:
        self.api_key = self.api_key or os.environ.get(API_KEY_ENV) or None
        if not is_loopback(self.host) and not self.api_key:
            raise ValueError(
                f"http.host {self.host} is reachable beyond this machine: set http.api_key "
                f"(or ${API_KEY_ENV})"
            )
        return self


class ServeConfig(BaseModel):
    """The whole TTS app."""

    model_config = ConfigDict(extra="forbid")

    policy: PolicySpec
    verifier: VerifierSpec
    tts: TTSSettings = Field(default_factory=TTSSettings)
    http: HTTPSpec = Field(default_factory=HTTPSpec)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> ServeConfig:
        """A config from a YAML file (optional) with top-level sections overridden."""
        values: dict[str, Any] = {}
        if path:
            try:
                values = yaml.safe_load(Path(path).read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f"{path}: cannot read the serve config: {exc}") from exc
            if not isinstance(values, dict):
                raise ValueError(f"{path}: a serve config is a mapping, got {type(values)}")
        for section, value in overrides.items():
            if value is None:
                continue
            if isinstance(value, dict):
                values[section] = {**values.get(section, {}), **value}
            else:
                values[section] = value
        return cls.model_validate(values)
