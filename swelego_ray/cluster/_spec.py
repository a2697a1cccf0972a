"""The cluster definition (cluster/node_types.yaml) as typed, validated records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# cluster/ next to the package when running from a checkout (the usual case for jobs).
DEFAULT_CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster"
_RESOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsSettings(_Model):
    region: str
    availability_zone: str
    head_instance_profile_arn: str
    worker_instance_profile_arn: str


class HeadSpec(_Model):
    aws_instance_type: str
    cpus: int = Field(gt=0)
    memory_gib: int = Field(gt=0)
    disk_gib: int = Field(gt=0)
    hourly_usd: float = Field(ge=0)
    resources: dict[str, int] = Field(default_factory=dict)


class NodeType(_Model):
    """One worker node type; `resources` holds custom resources only (CPU/GPU derive from
    cpus/gpus, so the launcher, KubeRay and the fake provider cannot disagree)."""

    purpose: str
    aws_instance_type: str
    accelerator: str | None = None
    cpus: int = Field(gt=0)
    memory_gib: int = Field(gt=0)
    gpus: int = Field(ge=0)
    disk_gib: int = Field(gt=0)
    image: Literal["cpu", "gpu"]
    container_runtime: bool
    resources: dict[str, int] = Field(default_factory=dict)
    min_workers: int = Field(ge=0)
    max_workers: int = Field(gt=0)
    hourly_usd: float = Field(ge=0)

    @field_validator("resources")
    @classmethod
    def _custom_only(cls, value: dict[str, int]) -> dict[str, int]:
        for name, amount in value.items():
            if name in ("CPU", "GPU", "memory", "object_store_memory"):
                raise ValueError(f"{name} is derived from cpus/gpus/memory_gib; remove it")
            if not _RESOURCE_NAME.match(name) or amount < 0:
                raise ValueError(f"bad custom resource {name}={amount}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NodeType:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers {self.min_workers} > max_workers {self.max_workers}")
        if (self.gpus > 0) != (self.image == "gpu"):
            raise ValueError("GPU node types use the gpu image, CPU node types the cpu image")
        return self

    def ray_resources(self) -> dict[str, int]:
        """Every Ray resource a node of this type offers (what tasks can ask for)."""
        out = {"CPU": self.cpus, **self.resources}
        if self.gpus:
            out["GPU"] = self.gpus
        return out


class KubeReserve(_Model):
    cpus: int = Field(ge=0)
    memory_gib: int = Field(ge=0)


class StageJob(_Model):
    script: str  # under jobs/
    args: str = ""
    needs: str  # a node type, or a custom resource name


class ServeApp(_Model):
    import_path: str
    route_prefix: str = "/"
    needs: str
    args: dict[str, Any] = Field(default_factory=dict)
    """The app's config (swelego_ray.serve.config.ServeConfig's sections)."""
    api_key_secret: str | None = None
    """Kubernetes secret (key `api-key`) whose value every pod gets as $SWELEGO_API_KEY."""


class ClusterSpec(_Model):
    cluster_name: str
    ray_version: str
    python_version: str
    images: dict[Literal["cpu", "gpu"], str]
    kube_images: dict[Literal["cpu", "gpu"], str]
    ray_env: dict[str, str] = Field(default_factory=dict)
    kube_reserve: KubeReserve
    idle_timeout_minutes: float = Field(gt=0)
    upscaling_speed: float = Field(gt=0)
    max_workers: int = Field(gt=0)
    aws: AwsSettings
    head: HeadSpec
    node_types: dict[str, NodeType]
    stages: dict[str, StageJob]
    serve: ServeApp

    @model_validator(mode="after")
    def _references_resolve(self) -> ClusterSpec:
        known = set(self.node_types) | {r for t in self.node_types.values() for r in t.resources}
        for name, stage in [*self.stages.items(), ("serve", self.serve)]:
            if stage.needs not in known:
                raise ValueError(
                    f"stage {name!r} needs {stage.needs!r}: not a node type or resource"
                )
        if sum(t.min_workers for t in self.node_types.values()) > self.max_workers:
            raise ValueError("the node types' min_workers add up to more than max_workers")
        return self


def load_spec(path: str | Path | None = None) -> ClusterSpec:
    """Load and validate cluster/node_types.yaml; errors name the file and the field."""
    path = Path(path) if path else DEFAULT_CLUSTER_DIR / "node_types.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"cluster definition not found: {path}") from None
    try:
        return ClusterSpec.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
