"""Trajectory -> input ids + per-token labels, through the model's own chat template.

Template-agnostic turn spans: the conversation is rendered prefix by prefix. For each
assistant message `a`:
    before = render(messages[:a], add_generation_prompt=True)
    after  = render(messages[:a + 1])
`after[len(before):]` is what the model generates for that turn: its text, tool calls and
end-of-turn token, WITHOUT the generation header (`<|im_start|>assistant\n`, which the
serving side writes) and without trailing whitespace after the end-of-turn token (a
template's layout newline, which the model never generates). Each rendering must extend the
previous one; a template that rewrites earlier turns (e.g. Qwen3's default, which drops
past `<think>` blocks) or whose generation prompt is not a prefix of the rendered turn is
refused with TemplateNotPrefixPreserving.

Pieces (context, turn, context, turn, ..., tail) are tokenised one by one, as at inference
time (the prompt is tokenised, the turn is generated). Labels are aligned with input ids
(the model shifts them): the token id inside an unmasked assistant turn, IGNORE_INDEX
(-100) everywhere else: system, user and tool messages, generation headers, and turns with
`turn_mask=True`, which stay in the context.

Long trajectories: whole trailing turns are dropped until the rest fits `max_length` (the
kept sequence ends right after an assistant turn); no turn is ever cut. An example whose
first assistant turn does not fit, or with no trainable token left, is dropped with a reason
(DroppedExample).

Speed and checks: rendering prefix by prefix costs O(turns^2) template work (~3 s for a
100-turn, 60k-token trajectory on one core). When the template marks assistant bodies with
{% generation %}, the turns are instead cut from ONE rendering by the generation blocks'
character ranges (~O(turns)). The first `verify_examples` trajectories (every one if None)
go through both paths, which must agree exactly, and through transformers'
`return_assistant_tokens_mask`: an all-zeros / all-ones mask, or one that disagrees with
the spans, raises TemplateError. Templates without generation tags always use the prefix
path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from swelego_ray.funnel import Funnel
from swelego_ray.schema import Trajectory

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
_GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")


class TokenizeError(ValueError):
    """A trajectory cannot be tokenised; the message names it and the problem."""


class TemplateError(TokenizeError):
    """The chat template cannot give per-turn labels; a configuration error, not the data's."""


class TemplateNotPrefixPreserving(TemplateError):
    """The chat template renders earlier turns differently once later turns are added."""


class DroppedExample(TokenizeError):
    """A well-formed trajectory that yields no usable example; `reason` is snake_case."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class SFTExample:
    instance_id: str
    input_ids: list[int]
    labels: list[int]
    """Same length as input_ids; IGNORE_INDEX where no loss applies (not shifted)."""
    n_assistant_turns: int
    """Assistant turns in the trajectory (before truncation): the curriculum difficulty."""
    n_kept_turns: int
    n_masked_turns: int
    """Kept turns with turn_mask=True (in the context, without loss)."""
    n_trained_tokens: int
    n_masked_tokens: int
    """Tokens of masked assistant turns (they would have been trained without masking)."""
    truncated: bool
    turn_spans: list[tuple[int, int]] = field(default_factory=list)
    """[start, end) token span of each kept assistant turn."""
    label: str | None = None

    @property
    def difficulty(self) -> float:
        return float(self.n_assistant_turns)

    def __len__(self) -> int:
        return len(self.input_ids)


class ChatTokenizer:
    """Tokenises trajectories with a Hugging Face tokenizer's (or a given) chat template."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_length: int,
        chat_template: str | None = None,
        verify_examples: int | None = 8,
    ) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.chat_template = chat_template
        self._template = chat_template or getattr(tokenizer, "chat_template", None) or ""
        if not self._template:
            raise TokenizeError("the tokenizer has no chat template and none was given")
        self._has_generation = bool(_GENERATION_TAG.search(self._template))
        self._verify_left = verify_examples  # None: verify every example

    def _render(self, messages: list[dict], tools: list | None, gen: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages,
            tools=tools,
            tokenize=False,
            add_generation_prompt=gen,
            chat_template=self.chat_template,
        )

    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        # verbose=False: lengths beyond model_max_length are this class's business (max_length)
        return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    @staticmethod
    def _tools(traj: Trajectory) -> list | None:
        # text-form trajectories describe their tools in the system prompt already
        return traj.tools if traj.tool_call_format == "native" and traj.tools else None

    def pieces(self, traj: Trajectory) -> tuple[list[str], list[str], str]:
        """(contexts, turns, tail): contexts[k] precedes turns[k]; tail ends the text."""
        verify = self._verify_left is None or self._verify_left > 0
        if self._has_generation and not verify:
            fast = self._pieces_by_generation(traj)
            if fast is not None:
                return fast
        by_prefix = self._pieces_by_prefix(traj)
        if verify:
            if self._verify_left is not None:
                self._verify_left -= 1
            if self._has_generation:
                self._cross_check(traj, by_prefix[1])
                if self._pieces_by_generation(traj) != by_prefix:
                    raise TemplateError(
                        f"{traj.instance_id}: the template's {{% generation %}} blocks do not "
                        "match the assistant turns found by prefix rendering"
                    )
        return by_prefix

    def _pieces_by_generation(self, traj: Trajectory) -> tuple[list[str], list[str], str] | None:
        from transformers.utils.chat_template_utils import render_jinja_template

        rendered, indices = render_jinja_template(
            conversations=[traj.chat_messages()],
            tools=self._tools(traj),
            chat_template=self._template,
            return_assistant_tokens_mask=True,
            **self.tokenizer.special_tokens_map,
        )
        text, spans = rendered[0], indices[0]
        if len(spans) != len(traj.assistant_indices()):
            return None  # one block per turn is what this path needs; use the prefix path
        contexts, turns, done = [], [], 0
        for start, end in spans:
            turn = text[start:end].rstrip()
            contexts.append(text[done:start])
            turns.append(turn)
            done = start + len(turn)
        return contexts, turns, text[done:]

    def _pieces_by_prefix(self, traj: Trajectory) -> tuple[list[str], list[str], str]:
        messages = traj.chat_messages()
        tools = self._tools(traj)
        contexts, turns = [], []
        done = ""
        for a in traj.assistant_indices():
            before = self._render(messages[:a], tools, True)
            if not before.startswith(done):
                raise TemplateNotPrefixPreserving(
                    f"{traj.instance_id}: rendering messages[:{a}] changes text rendered for "
                    "an earlier turn; the chat template rewrites history (e.g. strips past "
                    "reasoning). Use a prefix-preserving template such as qwen3_nothink."
                )
            after = self._render(messages[: a + 1], tools, False)
            if not after.startswith(before):
                raise TemplateNotPrefixPreserving(
                    f"{traj.instance_id}: the generation prompt for message {a} is not a "
                    "prefix of the rendered assistant turn (the template renders history "
                    "differently from what it asks the model to generate)"
                )
            turn = after[len(before) :].rstrip()
            if not turn:
                raise TokenizeError(f"{traj.instance_id}: message {a} renders to no text")
            contexts.append(before[len(done) :])
            turns.append(turn)
            done = before + turn
        full = self._render(messages, tools, False)
        if not full.startswith(done):
            raise TemplateNotPrefixPreserving(
                f"{traj.instance_id}: the full rendering does not extend the per-turn renderings"
            )
        return contexts, turns, full[len(done) :]

    def __call__(self, traj: Trajectory) -> SFTExample:
        contexts, turns, tail = self.pieces(traj)
        masks = [traj.messages[a].turn_mask is True for a in traj.assistant_indices()]
        ids: list[int] = []
        labels: list[int] = []
        spans: list[tuple[int, int]] = []
        for k, (context, turn) in enumerate(zip(contexts, turns, strict=True)):
            c_ids, t_ids = self._encode(context), self._encode(turn)
            if len(ids) + len(c_ids) + len(t_ids) > self.max_length:
                break
            ids += c_ids
            labels += [IGNORE_INDEX] * len(c_ids)
            spans.append((len(ids), len(ids) + len(t_ids)))
            ids += t_ids
            labels += [IGNORE_INDEX] * len(t_ids) if masks[k] else t_ids
        kept = len(spans)
        if kept == 0:
            raise DroppedExample(
                "first_turn_too_long",
                f"{traj.instance_id}: the prompt and first assistant turn exceed "
                f"max_length={self.max_length}",
            )
        tail_ids = self._encode(tail) if kept == len(turns) else []
        if len(ids) + len(tail_ids) <= self.max_length:
            ids += tail_ids
            labels += [IGNORE_INDEX] * len(tail_ids)
        n_trained = sum(label != IGNORE_INDEX for label in labels)
        if n_trained == 0:
            raise DroppedExample(
                "no_trainable_tokens",
                f"{traj.instance_id}: every kept assistant turn ({kept}) is masked",
            )
        return SFTExample(
            instance_id=traj.instance_id,
            input_ids=ids,
            labels=labels,
            n_assistant_turns=len(turns),
            n_kept_turns=kept,
            n_masked_turns=sum(masks[:kept]),
            n_trained_tokens=n_trained,
            n_masked_tokens=sum(e - s for (s, e), m in zip(spans, masks, strict=False) if m),
            truncated=kept < len(turns),
            turn_spans=spans,
            label=traj.label.value if traj.label else None,
        )

    def _cross_check(self, traj: Trajectory, turns: list[str]) -> None:
        """Compare the spans with the template's own {% generation %} assistant mask."""
        out = self.tokenizer.apply_chat_template(
            traj.chat_messages(),
            tools=self._tools(traj),
            chat_template=self.chat_template,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, mask = out["input_ids"], out["assistant_masks"]
        if not any(mask) or all(mask):
            state = "all-zeros" if not any(mask) else "all-ones"
            raise TemplateError(
                f"{traj.instance_id}: the template's assistant mask is {state}; its "
                "{% generation %} blocks do not wrap exactly the assistant turns"
            )
        marked = self.tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
        if "".join(marked.split()) != "".join("".join(turns).split()):
            raise TemplateError(
                f"{traj.instance_id}: the template's {{% generation %}} mask disagrees with "
                f"the prefix-rendering spans: {marked[:120]!r} vs {''.join(turns)[:120]!r}"
            )


def tokenize_trajectory(
    traj: Trajectory, tokenizer: Any, *, max_length: int, chat_template: str | None = None
) -> SFTExample:
    """One trajectory (turn_mask already decided) -> SFTExample."""
    return ChatTokenizer(tokenizer, max_length=max_length, chat_template=chat_template)(traj)


def tokenize_many(
    trajectories: Iterable[Trajectory], chat_tokenizer: ChatTokenizer, stage: str = "tokenize"
) -> tuple[list[SFTExample], Funnel, list[tuple[str, str]]]:
    """Tokenise a batch: dropped or failing items are recorded (funnel + (id, reason));
    a TemplateError (a configuration problem, not the item's) raises."""
    funnel = Funnel(stage)
    examples, failures = [], []
    for traj in trajectories:
        try:
            examples.append(chat_tokenizer(traj))
            funnel.keep()
        except TemplateError:
            raise
        except DroppedExample as exc:
            funnel.drop(exc.reason)
            failures.append((traj.instance_id, str(exc)))
        except TokenizeError as exc:
            funnel.drop("tokenize_error")
            failures.append((traj.instance_id, str(exc)))
    return examples, funnel, failures
