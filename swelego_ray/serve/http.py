"""The app's HTTP edge: an API key, a body size limit, and OpenAI-shaped errors.

Pure ASGI middleware (they wrap streaming responses unchanged): the key is checked
before anything else; a body is refused with 413 from its Content-Length, or as soon as a
chunked body passes the limit, never read whole first.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from swelego_ray.serve.config import HTTPSpec


def error_body(status: int, message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def error_response(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(error_body(status, message, kind), status_code=status)


class EdgeMiddleware:
    """API key (when configured) and body size limit, for every route."""

    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app, self.api_key, self.max_body_bytes = app, api_key, max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.api_key and not self._authorised(headers):
            await _send_json(
                send, 401, error_body(401, "missing or wrong API key", "authentication_error")
            )
            return
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_json(send, 413, self._too_large(int(declared)))
            return
        seen = 0

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:  # FastAPI passes HTTPException through
                    raise HTTPException(413, self._too_large(seen)["error"]["message"])
            return message

        await self.app(scope, counted_receive, send)

    def _authorised(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else headers.get("x-api-key", "")
        return hmac.compare_digest(token.encode(), (self.api_key or "").encode())

    def _too_large(self, size: int) -> dict[str, Any]:
        message = f"request body of {size} bytes exceeds the limit of {self.max_body_bytes} bytes"
        return error_body(413, message, "invalid_request_error")


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def make_http_app(spec: HTTPSpec) -> FastAPI:
    """The FastAPI app the ingress deployment serves (routes are added by Ray Serve LLM's
    `make_fastapi_ingress`)."""
    app = FastAPI(title="swelego-ray TTS", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid request: " + "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _failed(_request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
        status = status if isinstance(status, int) and 400 <= status < 600 else 500
        kind = "invalid_request_error" if status < 500 else "server_error"
        # Ray Serve LLM's OpenAIHTTPException keeps vLLM's text (e.g. "maximum context
        # length ...", which clients map to a context-exhausted episode) in `.message`.
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return error_response(status, str(message)[:2000], kind)

    app.add_middleware(EdgeMiddleware, api_key=spec.api_key, max_body_bytes=spec.max_body_bytes)
    return app
