"""The project's one OpenAI-compatible client, and a local vLLM server to point it at.

    from swelego_ray.llm import LLMClient, LLMConfig
    client = LLMClient(LLMConfig(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-8B"))
    answer = client.complete("Rewrite this function ...")
    print(answer.text, client.usage.total_tokens)

`LocalServer` (swelego_ray.llm.local_server) serves a model directory with vLLM on loopback.
"""

from swelego_ray.llm.client import ChatResult, LLMClient, Message, ToolCall, UsageStats, one_turn
from swelego_ray.llm.config import LLMConfig, SamplingSettings
from swelego_ray.llm.errors import (
    ContextTooLong,
    EndpointUnreachable,
    LLMError,
    ModelNotFound,
    RequestRejected,
    ServerError,
)

__all__ = [
    "ChatResult",
    "ContextTooLong",
    "EndpointUnreachable",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "Message",
    "ModelNotFound",
    "RequestRejected",
    "SamplingSettings",
    "ServerError",
    "ToolCall",
    "UsageStats",
    "one_turn",
]
