"""Refined SFT: trajectories -> error-masked, curriculum-ordered token examples -> Ray Train.

Public names resolve lazily, so `import swelego_ray.sft` loads neither torch nor
transformers. Data side (see docs/sft.md):
- masking:       MaskingConfig, decide_masks, apply_masks, mask_dataset, MaskingReport
- tokenize:      ChatTokenizer, SFTExample, tokenize_many, TokenizeError / TemplateError
- prepare:       prepare_sft_examples (masking + tokenize in one call)
- curriculum:    CurriculumConfig, CurriculumSchedule, CurriculumSampler
- verifier data: VerifierDataConfig, VerifierTokenizer, judgement_token_ids
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    # ordinary mistakes, refused before any work
    "SFTInputError": "_runtime",
    # masking
    "MaskRule": "masking",
    "MaskingConfig": "masking",
    "MaskingReport": "masking",
    "TurnDecision": "masking",
    "apply_masks": "masking",
    "decide_masks": "masking",
    "mask_dataset": "masking",
    # tokenize
    "IGNORE_INDEX": "tokenize",
    "ChatTokenizer": "tokenize",
    "DroppedExample": "tokenize",
    "SFTExample": "tokenize",
    "TemplateError": "tokenize",
    "TemplateNotPrefixPreserving": "tokenize",
    "TokenizeError": "tokenize",
    "tokenize_many": "tokenize",
    "tokenize_trajectory": "tokenize",
    # prepare (masking + tokenize in one call)
    "PreparedData": "prepare",
    "prepare_sft_examples": "prepare",
    # curriculum
    "Bucket": "curriculum",
    "CurriculumConfig": "curriculum",
    "CurriculumSampler": "curriculum",
    "CurriculumSchedule": "curriculum",
    "MicroBatch": "curriculum",
    "assign_buckets": "curriculum",
    "difficulty_of": "curriculum",
    # verifier data
    "VerifierDataConfig": "verifier_data",
    "VerifierTokenizer": "verifier_data",
    "flatten_conversation": "verifier_data",
    "judgement_token_ids": "verifier_data",
    "verifier_example": "verifier_data",
    # before training: checks that need the model's files
    "preflight": "_runtime",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
