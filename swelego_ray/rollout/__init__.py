"""The rollout stage: K agent episodes per validated task, judged, labelled, exported for
SFT (`swelego rollout`; docs/rollouts.md)."""

from swelego_ray.rollout.config import EndpointTeacherSpec, ReplayTeacherSpec, RolloutConfig
from swelego_ray.rollout.episode import RolloutItem, RolloutRecord, RolloutWorker, rollout_key
from swelego_ray.rollout.run import KEPT_LABELS, RolloutReport, run_rollouts

__all__ = [
    "KEPT_LABELS",
    "EndpointTeacherSpec",
    "ReplayTeacherSpec",
    "RolloutConfig",
    "RolloutItem",
    "RolloutRecord",
    "RolloutReport",
    "RolloutWorker",
    "rollout_key",
    "run_rollouts",
]
