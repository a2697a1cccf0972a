"""A client of the TTS app's routes (the OpenAI routes take the `openai` package), and the
TTS@K measurement over a task set: `swelego tts`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.serve.records import Candidate, TTSRequest, TTSResponse
from swelego_ray.serve.selection import Selection, TTSCurve, tts_curve


class TTSClientError(RuntimeError):
    """The server refused a request (the message carries its status and reason)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class TTSClient:
    """POST /v1/tts and friends on one server."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_s: float = 7200):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout_s, trust_env=False
        )

    async def tts(self, request: TTSRequest, *, trajectories: bool = False) -> TTSResponse:
        body = request.model_dump(mode="json", exclude_none=True)
        params = {"trajectories": "true"} if trajectories else None
        response = await self._http.post("/v1/tts", json=body, params=params)
        return TTSResponse.model_validate(self._json(response))

    async def health(self) -> dict[str, Any]:
        return self._json(await self._http.get("/v1/tts/health"))

    async def verify(self, trajectories: Sequence[Any]) -> list[float]:
        rows = [t if isinstance(t, dict) else t.model_dump(mode="json") for t in trajectories]
        return self._json(await self._http.post("/v1/verify", json={"trajectories": rows}))[
            "scores"
        ]

    async def aclose(self) -> None:
        await self._http.aclose()

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:2000]
            raise TTSClientError(response.status_code, message)
        return response.json()


class TTSEvaluation(BaseModel):
    """TTS@K vs Pass@1 over a task set (`tts.json`)."""

    model_config = ConfigDict(extra="forbid")

    curve: TTSCurve | None
    responses: list[TTSResponse] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    """Tasks whose request failed, with the reason."""
    wall_s: float = 0.0


async def evaluate_tts(
    client: TTSClient,
    instance_ids: Sequence[str],
    *,
    k: int,
    max_turns: int | None = None,
    seed: int = 0,
    concurrency: int = 1,
    teacher: str | None = None,
    on_done: Callable[[str, TTSResponse | None], None] | None = None,
) -> TTSEvaluation:
    """K graded candidates per task (one request each, `judge` on), then the curve."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    gate = asyncio.Semaphore(concurrency)
    responses: dict[str, TTSResponse] = {}
    failed: dict[str, str] = {}

    async def one(instance_id: str) -> None:
        request = TTSRequest(
            instance_id=instance_id,
            k=k,
            max_turns=max_turns,
            seed=seed,
            judge=True,
            teacher=teacher,
        )
        async with gate:
            try:
                responses[instance_id] = await client.tts(request)
            except (TTSClientError, httpx.HTTPError) as exc:
                failed[instance_id] = str(exc)[:1000]
        if on_done:
            on_done(instance_id, responses.get(instance_id))

    await asyncio.gather(*(one(i) for i in instance_ids))
    graded: dict[str, list[Candidate]] = {}
    for instance_id, response in responses.items():
        usable = [c for c in response.candidates if c.label is not None or not c.ok]
        if any(c.ok and c.label is None for c in response.candidates):
            failed[instance_id] = "a candidate came back without its grade"
            continue
        graded[instance_id] = usable
    curve = tts_curve(_fail_ungraded(graded), Selection(_selection(responses))) if graded else None
    ordered = [responses[i] for i in instance_ids if i in responses]
    return TTSEvaluation(
        curve=curve, responses=ordered, failed=failed, wall_s=round(loop.time() - begin, 3)
    )


def _fail_ungraded(graded: dict[str, list[Candidate]]) -> dict[str, list[Candidate]]:
    """A candidate that gave no patch counts as not resolved."""
    from swelego_ray.schema import Label

    return {
        i: [c if c.label is not None else c.model_copy(update={"label": Label.ERROR}) for c in cs]
        for i, cs in graded.items()
    }


def _selection(responses: dict[str, TTSResponse]) -> str:
    return next(iter(responses.values())).selection if responses else Selection.SIGNALS.value
