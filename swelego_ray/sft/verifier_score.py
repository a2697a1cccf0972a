"""Score rollouts with a trained generative verifier, batched.

p(YES) = sigmoid(max logit over the YES spellings - max logit over the NO spellings) at
the position right after `<judgement>` (the SWE-Lego paper's verifier score): one
forward pass per sample over the judge prompt
(swelego_ray.sft.verifier_data.VerifierTokenizer.prompt_ids). Prompts are left-padded so
that every row's last position is the one that predicts the answer; position ids skip
the padding, so a padded row scores exactly like the same row alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class VerifierScorer:
    """A verifier checkpoint (Hugging Face dir) loaded once; `score` many trajectories."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        batch_size: int = 8,
        device: str = "cpu",
        dtype: str = "float32",
        data_config: Any = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from swelego_ray.sft.verifier_data import VerifierTokenizer, judgement_token_ids

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=getattr(torch, dtype)
        ).to(device)
        self.model.eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.judge = VerifierTokenizer(self.tokenizer, data_config)
        yes, no = judgement_token_ids(self.tokenizer)
        self.yes_ids = torch.tensor(yes, device=self.device)
        self.no_ids = torch.tensor(no, device=self.device)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.tokenizer.eos_token_id

    def score(self, trajectories: Sequence[Any]) -> list[float]:
        """p(YES) per trajectory, in input order."""
        return self.score_prompts([self.judge.prompt_ids(t) for t in trajectories])

    def score_prompts(self, prompts: Sequence[Sequence[int]]) -> list[float]:
        """p(YES) per tokenised judge prompt (each ending with `<judgement>`)."""
        import torch

        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding
        scores = [0.0] * len(prompts)
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                chunk = order[k : k + self.batch_size]
                for i, p in zip(chunk, self._score_batch([prompts[i] for i in chunk]), strict=True):
                    scores[i] = p
        return scores

    def _score_batch(self, rows: list[Sequence[int]]) -> list[float]:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.as_tensor(list(r), dtype=torch.long)
            mask[i, width - len(r) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            logits_to_keep=1,
            use_cache=False,
        )
        logits = out.logits[:, -1, :].float()
        margin = logits[:, self.yes_ids].max(-1).values - logits[:, self.no_ids].max(-1).values
        return torch.sigmoid(margin).tolist()


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative),
    ties counting one half (Mann-Whitney U / (n_pos * n_neg))."""
    if not positive or not negative:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))
