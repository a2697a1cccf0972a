"""The run settings every sandboxed stage shares (validate, evaluate, and the stages to
come): the sandbox backend, per-command limits, and how the engine runs the items.

A stage's config extends `StageRunConfig`, so a job config, a CLI flag and a `key=value`
override name each setting the same way everywhere:

    backend: {kind: docker, images: {base_image: "local/python:{python}"}}   # or: docker
    workers: 8
    timeout_s: 1800          # per item, host side
    limits: {timeout_s: 900, memory_mb: 4096}
    item_resources: {sandbox: 1}

The backend is a discriminated union (`kind: local | docker`) validated with every option
on the driver before any work: a typo is one error naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from swelego_ray.engine import EngineConfig
from swelego_ray.envs import DockerEnvConfig, LocalEnvConfig
from swelego_ray.sandbox import Limits


class LocalBackendConfig(LocalEnvConfig):
    """The local backend (bubblewrap sandboxes; environments built on this host)."""

    kind: Literal["local"] = "local"


class DockerBackendConfig(DockerEnvConfig):
    """The docker backend (containers through a Docker-API engine; images built there)."""

    kind: Literal["docker"] = "docker"


BackendConfig = Annotated[LocalBackendConfig | DockerBackendConfig, Field(discriminator="kind")]


class StageRunConfig(BaseModel):
    """How a stage runs its items: backend, limits, concurrency, deadlines, Ray."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendConfig = Field(default_factory=LocalBackendConfig)
    """The sandbox backend and its options; a bare name (`docker`) takes the defaults."""
    cache_root: str | None = None
    """Checkout cache used to derive environments (default: $SWELEGO_CACHE)."""
    workers: int = Field(2, ge=1)
    """Items in flight at once (the actor pool's size)."""
    timeout_s: float = Field(1800.0, gt=0)
    """Host-side deadline per item, environment build included."""
    limits: Limits = Field(default_factory=Limits)
    """Per-command limits inside the sandbox."""
    cpus_per_item: float = Field(1.0, gt=0)
    """Ray logical CPUs per worker."""
    item_resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources per worker, e.g. {"sandbox": 1} on the cluster definition
    (cluster/node_types.yaml) so items run on, and autoscale, the sandbox nodes."""
    start_timeout_s: float | None = Field(900.0, gt=0)
    """Longest to wait for a node able to run the items (the autoscaler's start-up)."""
    ray_address: str | None = None
    """Ray cluster to join; None: a local Ray on loopback."""
    in_process: bool = False
    """Run items one by one in this process (debugging)."""
    progress: bool = True

    @field_validator("backend", mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_run(self) -> StageRunConfig:
        if self.in_process and self.workers > 1:
            raise ValueError("in_process runs one item at a time; use workers=1")
        if self.in_process and self.ray_address:
            raise ValueError("in_process does not use Ray; drop ray_address")
        if self.limits.network:
            raise ValueError("sandboxed stages never give tests a network (limits.network)")
        return self

    @property
    def backend_name(self) -> str:
        return self.backend.kind

    @property
    def backend_options(self) -> dict[str, Any]:
        """The backend's options as `envs.get_backend(name, **options)` takes them."""
        return self.backend.model_dump(mode="json", exclude={"kind"}, exclude_unset=True)

    def engine(self) -> EngineConfig:
        """The engine settings of this run."""
        return EngineConfig(
            workers=self.workers,
            item_timeout_s=self.timeout_s,
            start_timeout_s=self.start_timeout_s,
            cpus_per_item=self.cpus_per_item,
            resources=self.item_resources,
            in_process=self.in_process,
            ray_address=self.ray_address,
            progress=self.progress,
        )


__all__ = [
    "BackendConfig",
    "DockerBackendConfig",
    "LocalBackendConfig",
    "StageRunConfig",
]
