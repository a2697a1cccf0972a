"""The serve config refuses what cannot work before anything starts, requests are
validated at the edge, and the HTTP edge enforces the API key and body limit."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from swelego_ray.serve.config import HTTPSpec, ServeConfig
from swelego_ray.serve.http import make_http_app
from swelego_ray.serve.records import TTSRequest


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    (path / "config.json").write_text("{}")
    return path


def test_config_from_yaml_with_overrides(model_dir, tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text(
        f"policy: {{model: {model_dir}}}\nverifier: {{model: {model_dir}}}\n"
        "tts: {k_default: 2, k_max: 8}\n"
    )
    cfg = ServeConfig.load(path, tts={"max_turns": 5}, http={"port": 9001})
    assert cfg.tts.k_default == 2 and cfg.tts.max_turns == 5 and cfg.http.port == 9001
    assert cfg.policy.model == str(model_dir.resolve())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tts": {"k_default": 9, "k_max": 4}}, "k_default"),
        ({"tts": {"max_turns": 300}}, "max_turns"),
        ({"http": {"host": "0.0.0.0"}}, "api_key"),
        ({"verifier": {"model": "/nonexistent"}}, "not a model directory"),
        ({"tts": {"workres": 2}}, "workres"),
        ({"policy": {"autoscaling": {"min_replicas": 3, "max_replicas": 1}}}, "min_replicas"),
    ],
)
def test_config_errors_name_the_field(model_dir, monkeypatch, changes, message):
    monkeypatch.delenv("SWELEGO_API_KEY", raising=False)
    values = {"policy": {"model": str(model_dir)}, "verifier": {"model": str(model_dir)}}
    for section, value in changes.items():
        values[section] = {**values.get(section, {}), **value}
    with pytest.raises(ValidationError, match=message):
        ServeConfig.model_validate(values)


def test_a_request_names_exactly_one_task():
    with pytest.raises(ValidationError, match="exactly one"):
        TTSRequest()
    with pytest.raises(ValidationError, match="exactly one"):
        TTSRequest(
            instance_id="a",
            issue={"repo": "o/r", "base_commit": "abcdef1", "problem_statement": "x"},
        )
    with pytest.raises(ValidationError, match="judge needs"):
        TTSRequest(
            issue={"repo": "o/r", "base_commit": "abcdef1", "problem_statement": "x"}, judge=True
        )
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        TTSRequest(instance_id="a", k=0)


@pytest.fixture
def edge():
    app = make_http_app(HTTPSpec(api_key="sekret", max_body_bytes=2048))

    @app.post("/v1/tts")
    async def tts(body: TTSRequest) -> dict:
        return {"k": body.k}

    return TestClient(app)


def test_the_edge_wants_the_key_and_bounds_the_body(edge):
    ok = {"Authorization": "Bearer sekret"}
    assert edge.post("/v1/tts", json={"instance_id": "a", "k": 2}, headers=ok).json() == {"k": 2}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"x-api-key": "nope"}):
        response = edge.post("/v1/tts", json={"instance_id": "a"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
    assert (
        edge.post("/v1/tts", json={"instance_id": "a"}, headers={"x-api-key": "sekret"}).status_code
        == 200
    )

    big = {"instance_id": "a" * 5000}
    response = edge.post("/v1/tts", json=big, headers=ok)
    assert response.status_code == 413 and "exceeds the limit of 2048" in response.text

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"instance_id": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'"}'

    response = edge.post(
        "/v1/tts", content=chunks(), headers=ok | {"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_malformed_requests_get_a_422_naming_the_field(edge):
    ok = {"Authorization": "Bearer sekret"}
    response = edge.post("/v1/tts", json={"instance_id": "a", "k": "many"}, headers=ok)
    assert response.status_code == 422
    assert "k:" in response.json()["error"]["message"]
    response = edge.post(
        "/v1/tts", content=b"{not json", headers=ok | {"content-type": "application/json"}
    )
    assert response.status_code == 422
    response = edge.post("/v1/tts", json={"instance_id": "a", "bogus": 1}, headers=ok)
    assert response.status_code == 422 and "bogus" in response.json()["error"]["message"]


class _EngineRejection(Exception):
    """Shaped like Ray Serve LLM's OpenAIHTTPException: str() is empty, the text is in
    `.message`, the status in `.status_code`."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__()
        self.message, self.status_code = message, status_code


def test_an_engine_rejection_keeps_its_message_and_status():
    app = make_http_app(HTTPSpec())

    @app.post("/v1/chat/completions")
    async def chat() -> dict:
        raise _EngineRejection("This model's maximum context length is 4096 tokens", 400)

    response = TestClient(app, raise_server_exceptions=False).post("/v1/chat/completions")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "maximum context length" in error["message"]
    assert error["type"] == "invalid_request_error"
