"""SFTConfig: every knob of a refined-SFT (or verifier) run, typed and validated in full
before any worker starts. YAML files in swelego_ray/sft/configs/ hold the presets; `key=value`
overrides (dotted keys for nested fields) are applied on top.

Each bad combination is rejected with a message naming the flag to change.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swelego_ray.jobs import JobConfigError, config_mapping, validation_problems
from swelego_ray.sft.curriculum import CurriculumConfig
from swelego_ray.sft.masking import MaskingConfig
from swelego_ray.sft.verifier_data import VerifierDataConfig


class ConfigError(JobConfigError):
    """An SFT config file, override or combination of settings is invalid."""


class RopeScaling(BaseModel):
    """Context extension applied to the model config before training (YaRN)."""

    model_config = ConfigDict(extra="forbid")

    rope_type: Literal["yarn"] = "yarn"
    factor: float = Field(4.0, gt=1.0)
    original_max_position_embeddings: int = Field(32768, gt=0)

    def as_hf(self) -> dict[str, Any]:
        return {
            "rope_type": self.rope_type,
            "factor": self.factor,
            "original_max_position_embeddings": self.original_max_position_embeddings,
        }


class SFTConfig(BaseModel):
    """A full SFT run. Paths may be local or s3:// URIs (see swelego_ray.storage)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["policy", "verifier"] = "policy"
    """`policy`: the agent's own turns get loss (error-masked); `verifier`: only the
    `<judgement>YES|NO</judgement>` answer of a judge sample gets loss."""
    model: str
    """Base model: a Hugging Face directory, local or s3:// (downloaded on each node)."""
    data: str
    """Trajectories: JSONL, JSON or Parquet, local or s3://."""
    data_format: str = "auto"
    """Trajectory format: `auto` (detected per row) or one of
    swelego_ray.schema.TRAJECTORY_FORMATS (openai, openhands_text, sharegpt, swe_agent,
    openhands_events, swelego)."""
    out: str
    """Output URI: checkpoints/, model/ (Hugging Face export), metrics.jsonl, metrics.png,
    tensorboard/."""
    run_name: str = "sft"
    """Ray Train run name under `out`/checkpoints; rerunning with the same name resumes."""
    chat_template: str | None = "qwen3_nothink"
    """A template shipped in swelego_ray/models/templates/ (replaces the model's own, and is
    exported with the model); null keeps the model's template."""

    # -- resources ------------------------------------------------------------------------
    workers: int = Field(1, ge=0)
    """Ray Train workers (one process each; one GPU each when use_gpu). 0 runs the recipe
    in this process (Ray Train's local mode: no worker group, no FSDP, no restarts and no
    persisted checkpoints), for debugging and quick CPU runs."""
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    precision: Literal["bf16", "fp32"] = "fp32"
    """bf16 mixed precision (GPU; fp32 master weights and gradient reduction) or fp32 (CPU)."""
    fsdp: bool = True
    """FSDP2 (fully_shard) across workers; false = DDP (full replica per worker)."""
    activation_checkpointing: bool = False
    """Recompute activations in backward: much less memory, ~30 % more compute."""
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"

    # -- optimisation ---------------------------------------------------------------------
    lr: float = Field(1e-4, gt=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """Floor of the cosine schedule as a fraction of lr."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    weight_decay: float = Field(0.01, ge=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm; null disables clipping."""
    batch_size: int = Field(1, ge=1)
    """Sequences per worker per micro-batch (length-grouped, padded to the longest)."""
    grad_accum: int = Field(8, ge=1)
    """Micro-batches per optimizer step; effective batch = batch_size * grad_accum * workers."""
    max_length: int = Field(131072, ge=16)
    """Context length in tokens; longer trajectories lose trailing turns (never half a turn)."""
    rope_scaling: RopeScaling | None = None
    seed: int = 0

    # -- checkpoints and logging ----------------------------------------------------------
    checkpoint_every: int = Field(100, ge=1)
    """Optimizer steps between checkpoints (also one at the end of every curriculum stage).
    Each checkpoint is a Ray Train report: a few seconds of synchronisation, so not too often."""
    keep_checkpoints: int = Field(2, ge=1)
    max_failures: int = Field(3, ge=0)
    """Worker-group restarts (from the last checkpoint) before the run fails."""
    log_every: int = Field(1, ge=1)

    # -- data -----------------------------------------------------------------------------
    masking: MaskingConfig = Field(default_factory=MaskingConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    verifier: VerifierDataConfig = Field(default_factory=VerifierDataConfig)
    """Judge prompt and labels for task=verifier (its max_length is this config's)."""

    @field_validator("precision", mode="before")
    @classmethod
    def _no_fp16(cls, v: Any) -> Any:
        if v == "fp16":
            raise ValueError(
                "precision=fp16 is not supported (it needs loss scaling); "
                "use precision=bf16 on GPU or precision=fp32 on CPU"
            )
        return v

    @field_validator("data_format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        from swelego_ray.schema import TRAJECTORY_FORMATS

        if v != "auto" and v not in TRAJECTORY_FORMATS:
            raise ValueError(f"unknown format {v!r}; use auto or one of {list(TRAJECTORY_FORMATS)}")
        return v

    @field_validator("chat_template")
    @classmethod
    def _template_exists(cls, v: str | None) -> str | None:
        if v is not None:
            from swelego_ray.models.tiny import load_chat_template

            load_chat_template(v)  # raises with the list of shipped templates
        return v

    @model_validator(mode="after")
    def _combinations(self) -> SFTConfig:
        if self.workers == 0 and self.use_gpu:
            raise ValueError("workers=0 (in-process) runs on CPU only; set use_gpu=false")
        if self.precision == "bf16" and not self.use_gpu:
            raise ValueError("precision=bf16 needs use_gpu=true; on CPU set precision=fp32")
        if self.attn_implementation == "flash_attention_2" and not self.use_gpu:
            raise ValueError("attn_implementation=flash_attention_2 needs use_gpu=true")
        vml = self.verifier.max_length
        if "max_length" in self.verifier.model_fields_set and vml != self.max_length:
            raise ValueError(
                f"verifier.max_length={vml} differs from max_length={self.max_length}: "
                "set max_length only (it applies to verifier samples too)"
            )
        # the run's max_length applies to verifier samples (kept equal, so a dump re-validates)
        self.verifier = self.verifier.model_copy(update={"max_length": self.max_length})
        if self.rope_scaling is not None:
            limit = self.rope_scaling.original_max_position_embeddings * self.rope_scaling.factor
            if self.max_length > limit:
                raise ValueError(
                    f"max_length={self.max_length} exceeds rope_scaling "
                    f"(original_max_position_embeddings * factor = {int(limit)})"
                )
        return self

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum * max(self.workers, 1)


def resolve_uri(uri: str, base: Path | None = None) -> str:
    """An s3:// URI as is; a local path made absolute (against `base`, default the current
    directory), so that Ray Train workers, which run in their own directories, see the
    same file."""
    if "://" in uri:
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else ((base or Path.cwd()) / path).resolve())


def resolve_paths(config: SFTConfig) -> SFTConfig:
    """`model`, `data` and `out` resolved once, on the driver (see `resolve_uri`)."""
    return config.model_copy(
        update={k: resolve_uri(getattr(config, k)) for k in ("model", "data", "out")}
    )


def config_dir() -> Path:
    """The directory of the shipped YAML presets."""
    return Path(str(resources.files("swelego_ray.sft") / "configs"))


def resolve_config_path(name_or_path: str | Path) -> str:
    """A YAML path or s3:// URI, or the name of a shipped preset (`qwen3_8b`, ...)."""
    if str(name_or_path).startswith("s3://") or Path(name_or_path).is_file():
        return str(name_or_path)
    shipped = config_dir() / f"{name_or_path}.yaml"
    if shipped.is_file():
        return str(shipped)
    known = sorted(p.stem for p in config_dir().glob("*.yaml"))
    raise ConfigError(f"config {str(name_or_path)!r} is neither a file nor a preset {known}")


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, **fields: Any
) -> SFTConfig:
    """Preset/YAML file, then keyword fields (e.g. from CLI flags), then `key=value` overrides."""
    source = resolve_config_path(path) if path is not None else None
    try:
        raw = config_mapping(source, overrides or [], fields=fields)
    except JobConfigError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return resolve_paths(SFTConfig.model_validate(raw))
    except ValidationError as exc:
        problems = validation_problems(exc)
        raise ConfigError(f"invalid SFT config ({path or 'no file'}): {problems}") from None
