"""The TTS app's ingress: Ray Serve LLM's OpenAI ingress (/v1/models, /v1/chat/completions,
/v1/completions for the policy) plus the test-time scaling routes:

- POST /v1/tts: a task -> K rollouts -> verifier scores -> the chosen patch;
- POST /v1/verify: p(YES) for trajectories (the verifier deployment, batched);
- GET  /v1/tts/health: what the app serves (tasks known, budgets, models).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from ray.serve.handle import DeploymentHandle
from ray.serve.llm.ingress import OpenAiIngress

from swelego_ray.llm import LLMConfig
from swelego_ray.llm.local_server import is_loopback
from swelego_ray.schema import Trajectory
from swelego_ray.serve.config import ServeConfig
from swelego_ray.serve.http import error_response
from swelego_ray.serve.records import TTSRequest
from swelego_ray.serve.selection import Selection
from swelego_ray.serve.tts import TTSRequestError, TTSRunner


class VerifyRequest(BaseModel):
    """POST /v1/verify."""

    model_config = ConfigDict(extra="forbid")

    trajectories: list[Trajectory] = Field(min_length=1, max_length=256)


class TTSIngress(OpenAiIngress):
    """One replica of the app's ingress."""

    def __init__(
        self,
        llm_deployments: dict[str, DeploymentHandle],
        model_cards: dict[str, Any],
        *,
        verifier: DeploymentHandle,
        config: ServeConfig,
        lora_paths: dict[str, str] | None = None,
    ) -> None:
        super().__init__(llm_deployments, model_cards, lora_paths=lora_paths)
        self.verifier = verifier
        self.config = config
        self.runner = TTSRunner(config.tts, _policy_endpoint(config), selection=Selection.SIGNALS)

    async def _score(self, trajectory: Trajectory) -> float:
        return await self.verifier.score.remote(trajectory.model_dump(mode="json"))

    async def tts(self, body: TTSRequest, trajectories: bool = False) -> Any:
        """Run test-time scaling for one task (`?trajectories=true` adds the episodes)."""
        try:
            response = await self.runner.run(body, self._score, keep_trajectories=trajectories)
        except TTSRequestError as exc:
            return error_response(exc.status, str(exc))
        return JSONResponse(response.model_dump(mode="json"))

    async def verify(self, body: VerifyRequest) -> Any:
        """p(YES) for each trajectory, in order."""
        scores = await asyncio.gather(*(self._score(t) for t in body.trajectories))
        return {"scores": list(scores)}

    async def tts_health(self) -> dict[str, Any]:
        tts = self.config.tts
        return {
            "status": "ok",
            "policy": self.config.policy.model_id,
            "teacher": tts.teacher,
            "allow_replay": tts.allow_replay or tts.teacher == "replay",
            "tasks": len(self.runner.tasks),
            "k_default": tts.k_default,
            "k_max": tts.k_max,
            "max_turns": tts.max_turns,
            "max_turns_max": tts.max_turns_max,
        }


ROUTES = {
    "models": lambda app: app.get("/v1/models"),
    "model_data": lambda app: app.get("/v1/models/{model:path}"),
    "completions": lambda app: app.post("/v1/completions"),
    "chat": lambda app: app.post("/v1/chat/completions"),
    "tts": lambda app: app.post("/v1/tts"),
    "verify": lambda app: app.post("/v1/verify"),
    "tts_health": lambda app: app.get("/v1/tts/health"),
}


def _policy_endpoint(config: ServeConfig) -> LLMConfig:
    """How rollouts reach the policy: through this app's HTTP proxy on their own node."""
    host = config.http.host
    local = "127.0.0.1" if is_loopback(host) or host in ("0.0.0.0", "::", "") else host
    url = config.tts.policy_url or f"http://{local}:{config.http.port}/v1"
    return LLMConfig(
        base_url=url,
        model=config.policy.model_id,
        api_key=config.http.api_key or "EMPTY",
        timeout_s=600.0,
        sampling=config.tts.sampling,
    )
