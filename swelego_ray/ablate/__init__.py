"""The learning-signal ablation: the tiny model trained on replay-teacher trajectories with
and without error masking and the curriculum, scored side by side on held-out tasks
(`swelego ablate`). Honest about scale: see `records.HONEST_NOTE`."""

from swelego_ray.ablate.config import ARMS, AblateConfig, Arm
from swelego_ray.ablate.records import AblationResult, ArmScores, render_markdown
from swelego_ray.ablate.run import run_ablation

__all__ = [
    "ARMS",
    "AblateConfig",
    "AblationResult",
    "Arm",
    "ArmScores",
    "render_markdown",
    "run_ablation",
]
