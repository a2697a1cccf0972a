"""Score one model on the held-out turns (transformers on CPU).

Teacher-forced (sensitive even for a weak model):
- held-out loss: cross-entropy on the assistant turns that are not injected mistakes
  (the error-masked examples of the SFT data path);
- forced choices: after the teacher's text up to the tool name (or file path), which of
  the tools (files of the held-out tasks) does the model find most likely?
- at an injected mistake: at the first token where the mistaken call and the correct one
  (after the same thought) part, which does the model prefer, and by how much (log-odds)?
Sampled (what an agent would do): the model writes its own reply from the teacher's
context (`temperature`, seeded; 0 = greedy); its tool call is parsed, checked against the
tools' schemas and compared with the teacher's, and at mistakes with the mistake.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from swelego_ray.ablate.config import AblateConfig
from swelego_ray.ablate.data import Split
from swelego_ray.ablate.items import (
    Choice,
    TurnItem,
    build_items,
    follows,
    parse_reply,
    sample_items,
)
from swelego_ray.ablate.records import ArmScores

_STOP = ("<|im_end|>", "<|endoftext|>")


class Scorer:
    """Scores models on one held-out set (items built once with the base tokenizer, which
    every arm shares)."""

    def __init__(self, split: Split, tokenizer_dir: Path, cfg: AblateConfig) -> None:
        from transformers import AutoTokenizer

        self.cfg = cfg
        self.split = split
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        self.sampled = sample_items(build_items(split, self.tokenizer), cfg.max_sampled_turns,
                                    cfg.seed)  # fmt: skip

    def score(self, model_dir: Path, arm: str) -> ArmScores:
        import torch
        from transformers import AutoModelForCausalLM

        torch.manual_seed(self.cfg.seed)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
        with torch.no_grad():
            loss, tokens = self._heldout_loss(model)
            replies = self._generate(model, [it.prompt for it in self.sampled])
            tools, files, forks = self._forced(model)
        scores = self._sampled_scores(arm, replies)
        scores.heldout_loss, scores.heldout_tokens = loss, tokens
        scores.forced_tool_agreement = _rate(tools)
        scores.forced_file_turns, scores.forced_file_agreement = len(files), _rate(files)
        scores.mistake_preference = _rate([x > 0 for x in forks])
        scores.mistake_log_odds = sum(forks) / len(forks) if forks else None
        return scores

    # -- teacher-forced ----------------------------------------------------------------------

    def _heldout_loss(self, model: Any) -> tuple[float, int]:
        import torch

        from swelego_ray.sft import IGNORE_INDEX, prepare_sft_examples

        prepared = prepare_sft_examples(
            self.split.heldout, self.tokenizer, max_length=self.cfg.max_length
        )
        total, count = 0.0, 0
        for ex in prepared.examples:
            logits = model(input_ids=torch.tensor([ex.input_ids])).logits[0, :-1]
            target = torch.tensor(ex.labels[1:])
            keep = target != IGNORE_INDEX
            if keep.any():
                ce = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
                total, count = total + float(ce), count + int(keep.sum())
        return (total / count if count else float("nan")), count

    def _forced(self, model: Any) -> tuple[list[bool], list[bool], list[float]]:
        """Forced choices of every sampled turn, from one forward pass over its prompt."""
        tools, files, forks = [], [], []
        for item in self.sampled:
            if not (item.fork if item.mistake else item.tool or item.file):
                continue
            prompt = self._prompt_state(model, item.prompt)
            if item.mistake:
                if item.fork:
                    mistake, correct = self._option_logps(model, prompt, item.fork.options)
                    forks.append(mistake - correct)
            else:
                tools += [self._agrees(model, prompt, item.tool)] if item.tool else []
                files += [self._agrees(model, prompt, item.file)] if item.file else []
        return tools, files, forks

    def _prompt_state(self, model: Any, prompt: list[int]) -> tuple[Any, Any]:
        """The prompt's KV cache and next-token log-probabilities."""
        import torch

        out = model(input_ids=torch.tensor([prompt]), use_cache=True)
        return out.past_key_values, torch.log_softmax(out.logits[0, -1], dim=-1)

    def _option_logps(
        self, model: Any, prompt: tuple[Any, Any], options: list[list[int]]
    ) -> list[float]:
        """log p(option | prompt) for each option, each run from a copy of the cache."""
        import torch

        cache, first = prompt
        scores = []
        for option in options:
            logp = float(first[option[0]])
            if len(option) > 1:
                step = model(input_ids=torch.tensor([option[:-1]]),
                             past_key_values=copy.deepcopy(cache))  # fmt: skip
                rest = torch.log_softmax(step.logits[0], dim=-1)
                logp += float(rest[torch.arange(len(option) - 1), torch.tensor(option[1:])].sum())
            scores.append(logp)
        return scores

    def _agrees(self, model: Any, prompt: tuple[Any, Any], choice: Choice) -> bool:
        scores = self._option_logps(model, prompt, choice.options)
        return max(range(len(scores)), key=scores.__getitem__) == choice.answer

    # -- sampled -------------------------------------------------------------------------

    def _generate(self, model: Any, prompts: list[list[int]]) -> list[str]:
        import torch

        tok, cfg = self.tokenizer, self.cfg
        sampling = {"do_sample": True, "temperature": cfg.temperature, "top_k": 0}
        out = []
        for start in range(0, len(prompts), cfg.generate_batch):
            chunk = prompts[start : start + cfg.generate_batch]
            width = max(len(p) for p in chunk)
            generated = model.generate(
                input_ids=torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in chunk]),
                attention_mask=torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk]),
                max_new_tokens=cfg.max_new_tokens,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
                **(sampling if cfg.temperature > 0 else {"do_sample": False}),
            )
            for row in generated[:, width:]:
                out.append(_until_stop(tok.decode(row.tolist(), skip_special_tokens=False)))
        return out

    def _sampled_scores(self, arm: str, replies: list[str]) -> ArmScores:
        pairs = [(it, parse_reply(r)) for it, r in zip(self.sampled, replies, strict=True)]
        plain = [(it, p) for it, p in pairs if not it.mistake]
        with_file = [(it, p) for it, p in plain if it.teacher.path]
        erred: list[tuple[TurnItem, Any]] = [(it, p) for it, p in pairs if it.mistake]
        went = [follows(it, p) for it, p in erred]
        return ArmScores(
            arm=arm,
            sampled_turns=len(pairs),
            valid_call_rate=_rate([p.valid for _, p in pairs]) or 0.0,
            agreement_turns=len(plain),
            tool_agreement=_rate([p.name == it.teacher.name for it, p in plain]) or 0.0,
            file_turns=len(with_file),
            file_agreement=_rate([p.path == it.teacher.path for it, p in with_file]),
            mistake_positions=len(erred),
            mistake_reproduction=_rate([w == "mistake" for w in went]),
            correction_followed=_rate([w == "correction" for w in went]),
        )


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _until_stop(text: str) -> str:
    cut = min((i for i in (text.find(s) for s in _STOP) if i >= 0), default=len(text))
    return text[:cut]
