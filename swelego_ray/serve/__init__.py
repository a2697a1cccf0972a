"""Test-time scaling on Ray Serve (docs/serving.md): the policy (Ray Serve LLM), the
generative verifier (batched) and K parallel rollouts per request, chosen by the
verifier. `build_app` is the application; `TTSRunner` the same logic without Serve."""

from swelego_ray.serve.config import ServeConfig, TTSSettings
from swelego_ray.serve.records import Candidate, TTSRequest, TTSResponse
from swelego_ray.serve.selection import Selection, TTSCurve, choose, tts_curve

__all__ = [
    "Candidate",
    "Selection",
    "ServeConfig",
    "TTSCurve",
    "TTSRequest",
    "TTSResponse",
    "TTSSettings",
    "choose",
    "tts_curve",
]
