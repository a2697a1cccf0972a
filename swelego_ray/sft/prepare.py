"""The data side in one call: trajectories -> error masking -> per-turn-labelled examples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from swelego_ray.funnel import Funnel
from swelego_ray.schema import Trajectory
from swelego_ray.sft.masking import MaskingConfig, MaskingReport, mask_dataset
from swelego_ray.sft.tokenize import ChatTokenizer, SFTExample, tokenize_many


@dataclass
class PreparedData:
    examples: list[SFTExample]
    masking: MaskingReport
    funnel: Funnel
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(instance_id, reason) of every trajectory that produced no example."""

    def masked_token_fraction(self) -> float:
        """Tokens of masked assistant turns / all assistant-turn tokens (the masking cost)."""
        masked = sum(e.n_masked_tokens for e in self.examples)
        total = masked + sum(e.n_trained_tokens for e in self.examples)
        return masked / total if total else 0.0


def prepare_sft_examples(
    trajectories: Sequence[Trajectory],
    tokenizer: Any,
    *,
    max_length: int,
    masking: MaskingConfig | None = None,
    chat_template: str | None = None,
    dataset: str | None = "data",
) -> PreparedData:
    """Mask every trajectory (rules + explicit turn_mask), then tokenise through the chat
    template. Dropped items are in `failures` and the funnel; template errors raise.
    `dataset=None` reports masking per source format."""
    masked, report = mask_dataset(list(trajectories), masking, dataset=dataset)
    chat = ChatTokenizer(tokenizer, max_length=max_length, chat_template=chat_template)
    examples, funnel, failures = tokenize_many(masked, chat, stage=f"sft_data:{dataset or 'all'}")
    return PreparedData(examples, report, funnel, failures)
