"""Errors of the LLM client: each names the endpoint, the model and the problem."""

from __future__ import annotations

import openai


class LLMError(RuntimeError):
    """A request to an OpenAI-compatible endpoint failed (after the client's retries)."""

    def __init__(self, endpoint: str, model: str, problem: str) -> None:
        self.endpoint, self.model, self.problem = endpoint, model, problem
        super().__init__(f"{endpoint} (model {model or '?'}): {problem}")


class EndpointUnreachable(LLMError):
    """Nothing answers at the endpoint: server down, wrong address, or every attempt timed out."""


class ModelNotFound(LLMError):
    """The endpoint serves no model of that name."""


class ContextTooLong(LLMError):
    """Prompt plus max_tokens exceed the model's context window."""


class RequestRejected(LLMError):
    """The server refused the request (4xx other than the above): bad key, bad argument."""


class ServerError(LLMError):
    """The server kept failing (5xx or 429) through every retry."""


_CONTEXT_MARKERS = ("maximum context length", "context length", "too long", "max_model_len")


def translate(exc: Exception, endpoint: str, model: str) -> LLMError:
    """The LLMError for an exception raised by the openai package."""
    if isinstance(exc, openai.APITimeoutError):
        return EndpointUnreachable(endpoint, model, f"request timed out ({exc})")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return EndpointUnreachable(endpoint, model, f"cannot connect: {cause}")
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, endpoint, model)
    return LLMError(endpoint, model, f"{type(exc).__name__}: {exc}")


def _status_error(exc: openai.APIStatusError, endpoint: str, model: str) -> LLMError:
    text = _server_message(exc)
    status = exc.status_code
    if status == 404 and "model" in text.lower():
        return ModelNotFound(endpoint, model, f"model not served (HTTP 404: {text})")
    if status == 404:
        return RequestRejected(endpoint, model, f"HTTP 404 (is base_url the /v1 root?): {text}")
    if status == 400 and any(m in text.lower() for m in _CONTEXT_MARKERS):
        return ContextTooLong(endpoint, model, f"context too long (HTTP 400: {text})")
    if status in (401, 403):
        return RequestRejected(endpoint, model, f"HTTP {status}, check the API key: {text}")
    if status == 429 or status >= 500:
        return ServerError(endpoint, model, f"HTTP {status} after retries: {text}")
    return RequestRejected(endpoint, model, f"HTTP {status}: {text}")


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:2000]
        if isinstance(inner, str):
            return inner[:2000]
    return str(exc.message)[:2000]
