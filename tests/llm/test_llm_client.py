"""The LLM client against a real server on loopback (vLLM's CPU engine serving the tiny
model, shared for the session), plus a tiny local HTTP server that answers 503 to check
the retries."""

from __future__ import annotations

import asyncio
import json
import pickle
import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swelego_ray.llm import (
    ContextTooLong,
    EndpointUnreachable,
    LLMClient,
    LLMConfig,
    ModelNotFound,
    ServerError,
)
from swelego_ray.llm.local_server import LocalServer, LocalServerError, free_port

FINISH = {
    "type": "function",
    "function": {
        "name": "finish",
        "description": "Say the task is done.",
        "parameters": {
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    },
}


@pytest.fixture(scope="module")
def client(tiny_llm_server):
    return LLMClient(tiny_llm_server.config(max_concurrency=2))


def test_chat_completion_and_token_accounting(tiny_llm_server):
    client = LLMClient(tiny_llm_server.config(model=""))  # the endpoint's only model
    first = client.complete("Say hello.", system="Be brief.", max_tokens=8, temperature=0)
    second = client.chat([{"role": "user", "content": "Again."}], max_tokens=5)
    assert first.model == "tiny" and first.finish_reason in ("length", "stop")
    assert 0 < first.completion_tokens <= 8 and first.prompt_tokens > 0
    assert first.settings["max_tokens"] == 8 and first.settings["temperature"] == 0
    assert first.message() == {"role": "assistant", "content": first.text}
    usage = client.usage
    assert usage.requests == 2 and usage.failed_requests == 0
    assert usage.prompt_tokens == first.prompt_tokens + second.prompt_tokens
    assert usage.completion_tokens == first.completion_tokens + second.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert pickle.loads(pickle.dumps(client)).config == client.config  # to Ray workers


def test_native_tool_call(client):
    """The template lists the tools and vLLM's hermes parser turns the model's
    <tool_call> block into a native tool call. A random model writes arbitrary JSON, so
    its text is pinned with vLLM's structured outputs (a one-choice grammar)."""
    text = '<tool_call>\n{"name": "finish", "arguments": {"message": "done"}}\n</tool_call>'
    answer = client.chat(
        [{"role": "user", "content": "Finish now."}],
        tools=[FINISH],
        tool_choice="auto",
        extra_body={"structured_outputs": {"choice": [text]}},
        max_tokens=64,
        temperature=0,
    )
    assert answer.finish_reason == "tool_calls" and answer.text == ""
    assert [(c.name, c.parsed_arguments()) for c in answer.tool_calls] == [
        ("finish", {"message": "done"})
    ]
    call = answer.message()["tool_calls"][0]
    assert call["id"] and call["function"] == {"name": "finish", "arguments": '{"message": "done"}'}


def test_concurrency_is_bounded_sync_and_async(tiny_llm_server):
    sync_client = LLMClient(tiny_llm_server.config(max_concurrency=2))
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda i: sync_client.complete(f"n{i}", max_tokens=16), range(5)))
    assert sync_client.usage.peak_in_flight == 2 and sync_client.usage.requests == 5

    async_client = LLMClient(tiny_llm_server.config(max_concurrency=3))

    async def many():
        return await asyncio.gather(
            *(async_client.acomplete(f"a{i}", max_tokens=16) for i in range(5))
        )

    assert len(asyncio.run(many())) == 5
    assert async_client.usage.peak_in_flight == 3 and async_client.usage.requests == 5


def test_concurrent_seeded_long_prompts_keep_the_engine_alive(tiny_llm_server):
    """vLLM's CPU engine died on seeded requests prefilled in chunks (LocalServer turns
    chunked prefill off): 12 distinct ~400-word prompts at once exceed one step's budget."""
    client = LLMClient(tiny_llm_server.config(max_concurrency=12, max_retries=0))
    words = ("alpha beta gamma delta parse token module return value error " * 40).split()

    def one(i: int) -> int:
        prompt = " ".join(random.Random(i).choices(words, k=400))
        return client.complete(prompt, max_tokens=4, seed=i).completion_tokens

    with ThreadPoolExecutor(12) as pool:
        assert all(n > 0 for n in pool.map(one, range(12)))


def test_wrong_model_and_too_long_prompt_are_named(tiny_llm_server):
    wrong = LLMClient(tiny_llm_server.config(model="qwen-nope"))
    with pytest.raises(ModelNotFound, match=r"127\.0\.0\.1.*qwen-nope.*not served"):
        wrong.complete("hi", max_tokens=4)
    with pytest.raises(ModelNotFound, match=r"served: \['tiny'\]"):
        wrong.check()
    assert wrong.usage.failed_requests == 1
    client = LLMClient(tiny_llm_server.config())
    with pytest.raises(ContextTooLong, match="context too long"):
        client.complete("word " * (tiny_llm_server.max_model_len + 10), max_tokens=4)


def test_dead_endpoint_is_named():
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = LLMClient(LLMConfig(base_url=url, model="m", max_retries=1, connect_timeout_s=1))
    with pytest.raises(EndpointUnreachable, match=rf"{url}.*cannot connect"):
        client.complete("hi")


class Flaky503(BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` POSTs, then a valid chat completion."""

    failures = 2
    seen: list[str] = []

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        type(self).seen.append(self.path)
        if len(self.seen) <= self.failures:
            self.send_response(503)
            self.send_header("retry-after-ms", "50")  # keeps the test fast
            body = b'{"error": {"message": "overloaded"}}'
        else:
            self.send_response(200)
            body = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "ok"},
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            ).encode()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_retries_on_503_then_succeeds_or_names_the_failure():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        Flaky503.seen = []
        answer = LLMClient(LLMConfig(base_url=url, model="m", max_retries=3)).complete("hi")
        assert answer.text == "ok" and Flaky503.seen == ["/v1/chat/completions"] * 3
        Flaky503.seen = []
        with pytest.raises(ServerError, match=r"HTTP 503 after retries: overloaded"):
            LLMClient(LLMConfig(base_url=url, model="m", max_retries=1)).complete("hi")
        assert len(Flaky503.seen) == 2
    finally:
        server.shutdown()


def test_local_server_start_failures_name_the_problem(tmp_path, monkeypatch):
    """The start-up watch, with commands standing in for a vLLM that dies or hangs (a real
    failing vLLM costs an import of ~15 s)."""
    (tmp_path / "config.json").write_text("{}")
    server = LocalServer(tmp_path, log_path=tmp_path / "log", startup_timeout_s=2)
    dies = [sys.executable, "-c", "import sys; print('CUDA? no: boom'); sys.exit(3)"]
    monkeypatch.setattr(server, "command", lambda: dies)
    with pytest.raises(LocalServerError, match=r"(?s)exited with code 3 .*boom"):
        server.start()
    hangs = [sys.executable, "-c", "import subprocess, sys, time; "
             "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
             "print('loading', flush=True); time.sleep(60)"]  # fmt: skip
    monkeypatch.setattr(server, "command", lambda: hangs)
    with pytest.raises(LocalServerError, match=r"(?s)did not answer .* within 2 s.*loading"):
        server.start()
    leftovers = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True)
    assert leftovers.stdout == b"", "the server's process group outlived stop()"


def test_local_server_refuses_bad_settings(tmp_path):
    with pytest.raises(ValueError, match=r"no config\.json"):
        LocalServer(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="beyond loopback needs an api_key"):
        LocalServer(tmp_path, host="0.0.0.0")


def test_models_serve_cli_names_a_bad_model_directory(tmp_path):
    from typer.testing import CliRunner

    from swelego_ray.cli.main import app

    result = CliRunner().invoke(app, ["models", "serve", "--model", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "not a Hugging Face model directory" in result.output
