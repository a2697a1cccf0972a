"""Typed configuration of the project's one OpenAI-compatible client."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "SWELEGO_LLM_"


class SamplingSettings(BaseModel):
    """Default sampling settings of every request; a call may override any of them."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1)
    """Completion tokens per answer (the prompt counts against the model's context)."""
    seed: int | None = None
    stop: list[str] | None = None

    def merged(self, **overrides: Any) -> dict[str, Any]:
        """These settings with the non-None overrides applied, as request keywords."""
        unknown = set(overrides) - set(type(self).model_fields)
        if unknown:
            known = sorted(type(self).model_fields)
            raise ValueError(f"unknown sampling settings {sorted(unknown)}; known: {known}")
        values = self.model_dump() | {k: v for k, v in overrides.items() if v is not None}
        return {k: v for k, v in values.items() if v is not None}


class LLMConfig(BaseModel):
    """Where the model is served and how the client talks to it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    """The OpenAI-compatible root, e.g. http://127.0.0.1:8000/v1."""
    model: str = ""
    """Served model name; empty = the only model the endpoint lists (GET /v1/models)."""
    api_key: str = "EMPTY"
    """Bearer token; vLLM accepts anything unless started with --api-key."""
    timeout_s: float = Field(120.0, gt=0)
    """Per attempt: give up when no byte arrives for this long (a non-streamed answer
    arrives whole, so this bounds each request)."""
    connect_timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(3, ge=0)
    """Retries on connection errors, 408/409/429 and 5xx, with exponential backoff and
    jitter (0.5 s doubling up to 8 s, or the server's Retry-After): the openai package's."""
    max_concurrency: int = Field(8, ge=1)
    """Requests in flight per client, sync and async callers each."""
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Server-specific request fields, e.g. {"top_k": 20} or
    {"chat_template_kwargs": {"enable_thinking": false}} for vLLM serving Qwen3."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMConfig:
        """SWELEGO_LLM_BASE_URL, _MODEL, _API_KEY (and the overrides given) as a config."""
        values: dict[str, Any] = {}
        for field in ("base_url", "model", "api_key"):
            env = os.environ.get(ENV_PREFIX + field.upper())
            if env:
                values[field] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "base_url" not in values:
            raise ValueError(f"no endpoint: set {ENV_PREFIX}BASE_URL or pass base_url")
        return cls(**values)
