"""The TTS app on Ray Serve, over HTTP on loopback: the tiny policy answers the openai
client (Ray Serve LLM on vLLM's CPU engine), POST /v1/tts runs K rollouts driven by the
served policy at once and returns every candidate scored by the verifier deployment,
the verifier batches concurrent requests, bad requests get clear 4xx errors, the API key
is enforced, and `swelego tts --eval` computes TTS@k vs Pass@1."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from typer.testing import CliRunner

from swelego_ray.cli.main import app as cli
from swelego_ray.llm.local_server import free_port
from swelego_ray.models.tiny import build_tiny_model
from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
from swelego_ray.schema import Trajectory
from swelego_ray.serve import ServeConfig
from swelego_ray.serve.server import RunningApp

KEY = "test-key"
TASK = "swelego-samples__cronlite-1"


@pytest.fixture(scope="module")
def tts_app(ray_local, tmp_path_factory, sandbox_cache):
    root = tmp_path_factory.mktemp("tts-app")
    policy = build_tiny_model(root / "policy", seed=0)
    verifier = build_tiny_model(root / "verifier", seed=1)
    config = ServeConfig(
        policy={"model": str(policy), "max_model_len": 4096},
        verifier={"model": str(verifier), "cpus": 0.5, "batch_wait_timeout_s": 0.2},
        tts={
            "tasks": [str(sample_tasks_path())],
            "repos_dir": str(materialize_sample_repos(root / "repos")),
            "cache_root": str(sandbox_cache),
            "k_max": 4,
            "max_turns": 2,
            "sampling": {"max_tokens": 32, "temperature": 1.0},
            "progress": False,
        },
        http={"port": free_port(), "api_key": KEY, "max_body_bytes": 256 * 1024},
    )
    with RunningApp(config) as running:
        yield running


def _http(app: RunningApp) -> httpx.Client:
    return httpx.Client(
        base_url=app.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600
    )


def test_the_policy_answers_the_openai_client(tts_app):
    client = openai.OpenAI(base_url=f"{tts_app.base_url}/v1", api_key=KEY)
    assert [m.id for m in client.models.list().data] == ["policy"]
    reply = client.chat.completions.create(
        model="policy",
        messages=[{"role": "user", "content": "Fix the bug."}],
        max_tokens=8,
        n=2,
        temperature=0.8,
        logprobs=True,
        tools=[
            {
                "type": "function",
                "function": {"name": "think", "parameters": {"type": "object", "properties": {}}},
            }
        ],
    )
    assert len(reply.choices) == 2 and reply.usage.completion_tokens > 0
    assert reply.choices[0].logprobs is not None
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{tts_app.base_url}/v1", api_key="wrong").models.list()


def test_tts_runs_k_policy_rollouts_at_once_and_scores_each(tts_app):
    with _http(tts_app) as http:
        response = http.post(
            "/v1/tts", json={"instance_id": TASK, "k": 2}, params={"trajectories": "true"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    cands = body["candidates"]
    assert [c["attempt"] for c in cands] == [0, 1] and body["k"] == 2 and body["max_turns"] == 2
    assert all(c["ok"] and c["score"] is not None and c["trajectory"] for c in cands), cands
    assert all(c["trajectory"]["model"] == "policy" for c in cands)
    assert max(c["started_at"] for c in cands) < min(c["finished_at"] for c in cands)
    assert body["timings"]["rollouts_s"] > 0 and body["selection"] == "signals"
    if body["chosen"] is None:  # the tiny policy writes nonsense: usually no patch at all
        assert not any(c["signals"]["nonempty"] for c in cands) and body["patch"] == ""


def test_bad_requests_get_clear_errors(tts_app):
    with _http(tts_app) as http:
        cases = [
            ({"instance_id": "nope"}, 404, "unknown task 'nope'"),
            ({"instance_id": TASK, "k": 99}, 422, "k=99 is out of range"),
            ({"instance_id": TASK, "k": 0}, 422, "k: Input should be greater than or equal to 1"),
            ({"k": 2}, 422, "give exactly one of instance_id, task, issue"),
            ({"instance_id": TASK, "colour": "red"}, 422, "colour"),
        ]
        for body, status, message in cases:
            response = http.post("/v1/tts", json=body)
            assert response.status_code == status, (body, response.text)
            assert message in response.json()["error"]["message"], response.text
        huge = {"instance_id": TASK, "task": {"problem_statement": "x" * 300_000}}
        response = http.post("/v1/tts", json=huge)
        assert response.status_code == 413 and "exceeds the limit" in response.text
        chat = http.post("/v1/chat/completions", json={"model": "policy", "messages": "hi"})
        assert 400 <= chat.status_code < 500
    assert httpx.post(f"{tts_app.base_url}/v1/tts", json={"instance_id": TASK}).status_code == 401


def test_the_verifier_batches_concurrent_requests(tts_app):
    row = Trajectory(
        instance_id=TASK,
        messages=[
            {"role": "user", "content": "The parser drops the step of a range."},
            {"role": "assistant", "content": "Fixed the range."},
        ],
        patch="diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
    ).model_dump(mode="json")

    async def score_all() -> list[list[float]]:
        async with httpx.AsyncClient(
            base_url=tts_app.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300
        ) as http:
            replies = await asyncio.gather(
                *(http.post("/v1/verify", json={"trajectories": [row, row]}) for _ in range(4))
            )
        return [r.json()["scores"] for r in replies]

    scores = asyncio.run(score_all())
    flat = [s for batch in scores for s in batch]
    assert len(flat) == 8 and all(0 < s < 1 for s in flat)
    assert max(flat) - min(flat) < 1e-4  # the same trajectory scores the same in any batch
    from ray import serve

    handle = serve.get_deployment_handle("Verifier", app_name=tts_app.name)
    assert max(handle.batch_sizes.remote().result()) > 1


def test_tts_eval_prints_tts_at_k_against_pass_at_1(tts_app, tmp_path):
    result = CliRunner().invoke(
        cli,
        ["tts", "--url", tts_app.base_url, "--api-key", KEY, "--eval", "--task", TASK,
         "--k", "2", "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| k | TTS@k | Pass@k (oracle) |" in result.output and "Pass@1 =" in result.output
    saved = json.loads((tmp_path / "tts.json").read_text())
    assert saved["curve"]["tasks"] == 1 and saved["curve"]["k"] == [1, 2]
    labels = {c["label"] for c in saved["responses"][0]["candidates"]}
    assert labels <= {"resolved", "unresolved", "semi_resolved", "error"} and labels
