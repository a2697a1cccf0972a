"""The project's one OpenAI-compatible client: chat with tools, plain completions of a chat,
bounded concurrency (sync and async), token accounting, clear errors.

Retries with exponential backoff on connection errors, 408/409/429 and 5xx are the openai
package's own (`max_retries`, honouring Retry-After); per-request timeouts are httpx's.
A client pickles as its config: Ray workers get a fresh client (usage starts at zero).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import openai

from swelego_ray.llm.config import LLMConfig
from swelego_ray.llm.errors import LLMError, ModelNotFound, translate

Message = dict[str, Any]


@dataclass(frozen=True)
class UsageStats:
    """What one client has spent so far (a snapshot)."""

    requests: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    peak_in_flight: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCall:
    """One native tool call, arguments as the model wrote them (maybe not valid JSON)."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a JSON object; ValueError naming the tool otherwise."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool call {self.name!r}: arguments are not JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.name!r}: arguments are not a JSON object")
        return value


@dataclass(frozen=True)
class ChatResult:
    """One answer: text, tool calls, why it stopped, its tokens and the settings used."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    latency_s: float
    settings: dict[str, Any] = field(default_factory=dict)

    def message(self) -> Message:
        """The assistant message in OpenAI form, to append to the conversation."""
        msg: Message = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        return msg


class LLMClient:
    """Sync and async calls to one endpoint and model, at most `max_concurrency` in flight
    per calling style."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._usage = UsageStats()
        self._in_flight = 0
        self._sync_slots = threading.BoundedSemaphore(config.max_concurrency)
        self._sync: openai.OpenAI | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple] = (
            weakref.WeakKeyDictionary()
        )
        self._model = config.model

    def __reduce__(self):
        return (type(self), (self.config,))

    @property
    def endpoint(self) -> str:
        return self.config.base_url

    @property
    def usage(self) -> UsageStats:
        with self._lock:
            return self._usage

    # -- public calls -------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        timeout_s: float | None = None,
        extra_body: dict[str, Any] | None = None,
        **sampling: Any,
    ) -> ChatResult:
        """One chat completion; `tools` are OpenAI function schemas (native tool calls);
        `extra_body` adds server-specific fields to the config's (e.g. vLLM's
        `structured_outputs`); `sampling` overrides the config's SamplingSettings."""
        model = self.model()
        request = self._request(model, messages, tools, tool_choice, timeout_s, sampling)
        _add_extra_body(request, extra_body)
        with self._sync_slots, self._track():
            start = time.monotonic()
            try:
                response = self._sync_client().chat.completions.create(**request)
            except openai.OpenAIError as exc:
                raise self._failed(exc, model) from exc
        return self._result(response, model, start, sampling_of(request))

    def complete(self, prompt: str, *, system: str | None = None, **sampling: Any) -> ChatResult:
        """A plain completion of a one-turn chat (no tools)."""
        return self.chat(one_turn(prompt, system), **sampling)

    async def achat(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        timeout_s: float | None = None,
        extra_body: dict[str, Any] | None = None,
        **sampling: Any,
    ) -> ChatResult:
        """`chat` for asyncio callers (slots bounded per event loop)."""
        model = await asyncio.to_thread(self.model) if not self._model else self._model
        request = self._request(model, messages, tools, tool_choice, timeout_s, sampling)
        _add_extra_body(request, extra_body)
        client, slots = self._async_client()
        async with slots:
            with self._track():
                start = time.monotonic()
                try:
                    response = await client.chat.completions.create(**request)
                except openai.OpenAIError as exc:
                    raise self._failed(exc, model) from exc
        return self._result(response, model, start, sampling_of(request))

    async def acomplete(
        self, prompt: str, *, system: str | None = None, **sampling: Any
    ) -> ChatResult:
        """`complete` for asyncio callers."""
        return await self.achat(one_turn(prompt, system), **sampling)

    def served_models(self) -> list[str]:
        """The model names the endpoint serves (GET /models)."""
        try:
            return [m.id for m in self._sync_client().models.list()]
        except openai.OpenAIError as exc:
            raise translate(exc, self.endpoint, self.config.model) from exc

    def model(self) -> str:
        """The configured model, or the endpoint's only one; ModelNotFound otherwise."""
        if self._model:
            return self._model
        served = self.served_models()
        if len(served) != 1:
            raise ModelNotFound(
                self.endpoint, "", f"no model configured and the endpoint serves {served}"
            )
        self._model = served[0]
        return self._model

    def check(self) -> str:
        """Fail fast: the endpoint answers and serves the model; returns the model name."""
        model = self.model()
        served = self.served_models()
        if model not in served:
            raise ModelNotFound(self.endpoint, model, f"model not served; served: {served}")
        return model

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    # -- internals ----------------------------------------------------------------------

    def _request(
        self,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]] | None,
        tool_choice: str | dict[str, Any] | None,
        timeout_s: float | None,
        sampling: dict[str, Any],
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            **self.config.sampling.merged(**sampling),
        }
        if tools:
            request["tools"] = list(tools)
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        if self.config.extra_body:
            request["extra_body"] = dict(self.config.extra_body)
        if timeout_s is not None:
            request["timeout"] = openai.Timeout(timeout_s, connect=self.config.connect_timeout_s)
        return request

    def _timeout(self) -> openai.Timeout:
        return openai.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)

    def _sync_client(self) -> openai.OpenAI:
        with self._lock:
            if self._sync is None:
                self._sync = openai.OpenAI(
                    base_url=self.config.base_url,
                    api_key=self.config.api_key,
                    timeout=self._timeout(),
                    max_retries=self.config.max_retries,
                )
            return self._sync

    def _async_client(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        """One AsyncOpenAI and one semaphore per event loop (httpx pools are loop-bound)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._async:
                client = openai.AsyncOpenAI(
                    base_url=self.config.base_url,
                    api_key=self.config.api_key,
                    timeout=self._timeout(),
                    max_retries=self.config.max_retries,
                )
                self._async[loop] = (client, asyncio.Semaphore(self.config.max_concurrency))
            return self._async[loop]

    @contextmanager
    def _track(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            peak = max(self._usage.peak_in_flight, self._in_flight)
            self._usage = _replace(self._usage, peak_in_flight=peak)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _failed(self, exc: Exception, model: str) -> LLMError:
        with self._lock:
            self._usage = _replace(self._usage, failed_requests=self._usage.failed_requests + 1)
        return translate(exc, self.endpoint, model)

    def _result(self, response: Any, model: str, start: float, settings: dict) -> ChatResult:
        latency = time.monotonic() - start
        usage = response.usage
        prompt = usage.prompt_tokens if usage else 0
        completion = usage.completion_tokens if usage else 0
        with self._lock:
            u = self._usage
            self._usage = _replace(
                u,
                requests=u.requests + 1,
                prompt_tokens=u.prompt_tokens + prompt,
                completion_tokens=u.completion_tokens + completion,
            )
        if not response.choices:
            raise LLMError(self.endpoint, model, "the answer has no choices")
        choice = response.choices[0]
        calls = tuple(
            ToolCall(c.id, c.function.name, c.function.arguments or "")
            for c in (choice.message.tool_calls or [])
            if getattr(c, "function", None) is not None
        )
        return ChatResult(
            text=choice.message.content or "",
            tool_calls=calls,
            finish_reason=choice.finish_reason or "",
            prompt_tokens=prompt,
            completion_tokens=completion,
            model=response.model or model,
            latency_s=latency,
            settings=settings,
        )


def one_turn(prompt: str, system: str | None = None) -> list[Message]:
    """[system?, user] messages for a single-turn request."""
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


def sampling_of(request: dict[str, Any]) -> dict[str, Any]:
    """The settings of a request worth recording next to its answer."""
    skip = {"messages", "tools", "timeout", "extra_body"}
    return {k: v for k, v in request.items() if k not in skip} | request.get("extra_body", {})


def _add_extra_body(request: dict[str, Any], extra: dict[str, Any] | None) -> None:
    if extra:
        request["extra_body"] = {**request.get("extra_body", {}), **extra}


def _replace(usage: UsageStats, **changes: int) -> UsageStats:
    return replace(usage, **changes)
