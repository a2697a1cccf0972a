"""The verifier deployment: the generative judge's p(YES) (the SFT stage's
VerifierScorer), with concurrent requests gathered into batches (`@serve.batch`)."""

from __future__ import annotations

from typing import Any

from ray import serve

from swelego_ray.schema import Trajectory
from swelego_ray.serve.config import VerifierSpec


class Verifier:
    """Loads one verifier checkpoint; `score(trajectory)` -> p(YES), batched."""

    def __init__(self, spec: VerifierSpec) -> None:
        from swelego_ray.sft.verifier_score import VerifierScorer

        self.spec = spec
        self.scorer = VerifierScorer(
            local_model(spec.model),
            batch_size=spec.max_batch_size,
            device=spec.device,
            dtype=spec.dtype,
        )
        self.score_batch.set_max_batch_size(spec.max_batch_size)
        self.score_batch.set_batch_wait_timeout_s(spec.batch_wait_timeout_s)
        self.batches: list[int] = []

    async def score(self, trajectory: Trajectory | dict[str, Any]) -> float:
        """p(YES) of one trajectory (its final patch and log judged)."""
        return await self.score_batch(Trajectory.model_validate(trajectory))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
    async def score_batch(self, trajectories: list[Trajectory]) -> list[float]:
        self.batches.append(len(trajectories))
        return self.scorer.score(trajectories)

    def batch_sizes(self) -> list[int]:
        """The sizes of the batches run so far (tests and the benchmark)."""
        return list(self.batches)

    def check_health(self) -> None:
        """Ray Serve's health check: the model is loaded."""
        if self.scorer.model is None:
            raise RuntimeError("the verifier model is not loaded")


def local_model(model: str) -> str:
    """A local directory for `model` (an s3:// export is downloaded once per node)."""
    if not model.startswith("s3://"):
        return model
    import hashlib

    from swelego_ray.storage import Store, default_cache_root, download_dir

    parent, _, name = model.rstrip("/").rpartition("/")
    digest = hashlib.sha256(model.encode()).hexdigest()[:16]
    local = default_cache_root() / "models" / digest
    if not (local / "config.json").is_file():
        download_dir(Store(parent), name, local)
    return str(local)


def build_verifier(spec: VerifierSpec) -> Any:
    """The bound verifier deployment."""
    actor: dict[str, Any] = {"num_cpus": spec.cpus}
    if spec.gpus:
        actor["num_gpus"] = spec.gpus
    deployment = serve.deployment(
        Verifier,
        name="Verifier",
        ray_actor_options=actor,
        max_ongoing_requests=max(64, 4 * spec.max_batch_size),
        health_check_period_s=10,
        **spec.autoscaling.serve_options(),
    )
    return deployment.bind(spec)
