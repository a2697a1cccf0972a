"""Teachers: what answers the agent's turns.

- `EndpointTeacher`: any OpenAI-compatible endpoint through the project's one client
  (vLLM, Ray Serve, a hosted model).
- `ReplayTeacher` (agent.replay): a scripted episode derived from a task's gold patch,
  for tests and the demo where no model here can solve tasks. Named as such in every
  trajectory it produces (`model = "replay"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swelego_ray.llm import ChatResult, LLMClient, LLMConfig


class EndpointTeacher:
    """An OpenAI-compatible chat endpoint; `sampling` overrides the client config's."""

    def __init__(self, client: LLMClient | LLMConfig, **sampling: Any) -> None:
        self.client = client if isinstance(client, LLMClient) else LLMClient(client)
        self.sampling = sampling
        self.name = self.client.config.model or self.client.endpoint

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None
    ) -> ChatResult:
        return self.client.chat(messages, tools=tools, **self.sampling)


__all__ = ["EndpointTeacher"]
