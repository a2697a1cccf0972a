"""Verifier samples: a labelled trajectory -> a judge prompt with loss only on YES / NO.

Sample (rendered with the model's chat template):
    system    : the judge system prompt
    user      : <trajectory> [USER]...[/USER] [ASSISTANT]...[/ASSISTANT] ... </trajectory>
                <patch> the final patch </patch>
                the question
    assistant : <judgement>YES</judgement>   (resolved)   or   <judgement>NO</judgement>
Tool results become [USER] blocks; native tool calls are written in the text form
(`<function=...>`) inside the [ASSISTANT] block. The agent's own system prompt is left out
by default (tool documentation, the same in every sample).

Labels: only the answer word's tokens (YES / NO) carry loss; `<judgement>`, `</judgement>`
and the end of turn do not. Semi-resolved and unresolved are NO; `error` (no verdict) and
unlabelled trajectories are dropped with a reason.

Length: when the sample exceeds `max_length`, the MIDDLE of the flattened log is cut by
tokens (head and tail kept, a marker says how many tokens were omitted); the patch, the
question and the prompts are never cut. A sample whose fixed parts alone do not fit is
dropped (`patch_too_long`).

Scoring: p(YES) = sigmoid(max logit over `judgement_token_ids(tok)[0]` - max logit over
`[1]`) at the position that predicts the answer (`SFTExample.turn_spans[0][0] - 1`), i.e.
one forward pass over `prompt_ids` (everything up to and including `<judgement>`).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict

from swelego_ray.schema import Label, Trajectory
from swelego_ray.schema.tool_calls import ToolCallParseError, parse_arguments, render_text_tool_call
from swelego_ray.sft.tokenize import IGNORE_INDEX, DroppedExample, SFTExample, TokenizeError

logger = logging.getLogger(__name__)

JUDGE_SYSTEM_PROMPT = (
    "You are an expert software engineer reviewing the work of an AI agent. The agent was "
    "given a GitHub issue and a repository, worked in a sandbox, and produced a patch. Read "
    "the agent's trajectory and its final patch, and judge whether the patch resolves the "
    "issue: the failing behaviour is fixed, nothing else is broken, and no test was edited "
    "to pass."
)
QUESTION = (
    "Does the final patch resolve the issue? Answer with <judgement>YES</judgement> or "
    "<judgement>NO</judgement>."
)
OPEN_TAG, CLOSE_TAG = "<judgement>", "</judgement>"
YES_VARIANTS = ("YES", "Yes", "yes", " YES", " Yes", " yes")
NO_VARIANTS = ("NO", "No", "no", " NO", " No", " no")


class VerifierDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_length: int = 32768
    system_prompt: str = JUDGE_SYSTEM_PROMPT
    question: str = QUESTION
    include_agent_system_prompt: bool = False
    positive_labels: list[Label] = [Label.RESOLVED]
    """Labels whose target is YES; every other verdict is NO (error/None are dropped)."""
    omitted_marker: str = "\n[... {n} tokens of the trajectory omitted ...]\n"


def flatten_conversation(traj: Trajectory, include_system: bool = False) -> str:
    """The trajectory as [USER]/[ASSISTANT] blocks (tool results are user blocks)."""
    blocks = []
    for m in traj.messages:
        if m.role == "system" and not include_system:
            continue
        if m.role != "assistant":
            blocks.append(f"[USER]\n{m.content}\n[/USER]")
            continue
        parts = [m.content.strip()] if m.content.strip() else []
        if traj.tool_call_format == "native":
            for call in m.tool_calls:
                try:
                    args = parse_arguments(call.function.arguments)
                    parts.append(render_text_tool_call(call.function.name, args))
                except ToolCallParseError:  # keep a malformed call as the model wrote it
                    parts.append(f"<function={call.function.name}>{call.function.arguments}")
        blocks.append("[ASSISTANT]\n" + "\n".join(parts) + "\n[/ASSISTANT]")
    return "\n".join(blocks)


def target_of(traj: Trajectory, config: VerifierDataConfig) -> str:
    if traj.label is None:
        raise DroppedExample("no_label", f"{traj.instance_id}: the trajectory has no label")
    if traj.label is Label.ERROR:
        raise DroppedExample(
            "infrastructure_error", f"{traj.instance_id}: label `error` carries no verdict"
        )
    return "YES" if traj.label in config.positive_labels else "NO"


class VerifierTokenizer:
    """Builds tokenised verifier samples (and scoring prompts) for one tokenizer."""

    def __init__(
        self,
        tokenizer: Any,
        config: VerifierDataConfig | None = None,
        chat_template: str | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config or VerifierDataConfig()
        self.chat_template = chat_template

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def _user(self, log: str, patch: str) -> str:
        return (
            f"<trajectory>\n{log}\n</trajectory>\n\n<patch>\n{patch}\n</patch>\n\n"
            f"{self.config.question}"
        )

    def _render(self, user: str, answer: str | None) -> str:
        messages = [
            {"role": "system", "content": self.config.system_prompt},
            {"role": "user", "content": user},
        ]
        if answer is not None:
            messages.append({"role": "assistant", "content": f"{OPEN_TAG}{answer}{CLOSE_TAG}"})
        return self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=answer is None,
            chat_template=self.chat_template,
        )

    def _pieces(
        self, traj: Trajectory, answer: str
    ) -> tuple[list[int], list[int], list[int], bool]:
        """(prompt ids up to and including `<judgement>`, answer ids, closing ids, cut?)."""
        cfg = self.config
        log = flatten_conversation(traj, cfg.include_agent_system_prompt)
        fixed = len(self._encode(self._render(self._user("", traj.patch), answer)))
        budget = cfg.max_length - fixed
        if budget <= 0:
            raise DroppedExample(
                "patch_too_long",
                f"{traj.instance_id}: prompts, patch and question need {fixed} tokens > "
                f"max_length={cfg.max_length}",
            )
        text = log
        for attempt in range(6):
            prompt, answer_ids, rest = self._split(traj, self._user(text, traj.patch), answer)
            overflow = len(prompt) + len(answer_ids) + len(rest) - cfg.max_length
            if overflow <= 0:
                return prompt, answer_ids, rest, text is not log
            if attempt:  # token boundaries shifted after the cut: take a few more off
                budget -= max(overflow, 8)
            text = self._cut_middle(log, budget)
        raise TokenizeError(f"{traj.instance_id}: could not fit the sample into max_length")

    def _split(self, traj: Trajectory, user: str, answer: str) -> tuple[list, list, list]:
        prompt = self._render(user, None)
        full = self._render(user, answer)
        if not full.startswith(prompt):
            raise TokenizeError(
                f"{traj.instance_id}: the chat template's generation prompt is not a prefix "
                "of the rendered judge answer"
            )
        completion = full[len(prompt) :]
        at = completion.find(f"{OPEN_TAG}{answer}")
        if at < 0:
            raise TokenizeError(f"{traj.instance_id}: the template dropped the judgement text")
        head = completion[: at + len(OPEN_TAG)]
        rest = completion[at + len(OPEN_TAG) + len(answer) :].rstrip()
        return (
            self._encode(prompt) + self._encode(head),
            self._encode(answer),
            self._encode(rest),
        )

    def _cut_middle(self, log: str, budget: int) -> str:
        enc = self.tokenizer(log, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        marker_len = len(self._encode(self.config.omitted_marker.format(n=len(offsets))))
        keep = max(budget - marker_len, 0)
        if keep >= len(offsets):
            return log
        head_n, tail_n = keep // 2, keep - keep // 2
        head = log[: offsets[head_n][0]] if head_n else ""
        tail = log[offsets[len(offsets) - tail_n][0] :] if tail_n else ""
        omitted = len(offsets) - head_n - tail_n
        return head + self.config.omitted_marker.format(n=omitted) + tail

    def __call__(self, traj: Trajectory) -> SFTExample:
        answer = target_of(traj, self.config)
        prompt, answer_ids, rest, truncated = self._pieces(traj, answer)
        ids = prompt + answer_ids + rest
        labels = [IGNORE_INDEX] * len(prompt) + answer_ids + [IGNORE_INDEX] * len(rest)
        return SFTExample(
            instance_id=traj.instance_id,
            input_ids=ids,
            labels=labels,
            n_assistant_turns=len(traj.assistant_indices()),
            n_kept_turns=1,
            n_masked_turns=0,
            n_trained_tokens=len(answer_ids),
            n_masked_tokens=0,
            truncated=truncated,
            turn_spans=[(len(prompt), len(prompt) + len(answer_ids))],
            label=answer,
        )

    def prompt_ids(self, traj: Trajectory) -> list[int]:
        """Scoring input: the sample up to and including `<judgement>` (label not needed)."""
        return self._pieces(traj, "YES")[0]


def verifier_example(
    traj: Trajectory, tokenizer: Any, config: VerifierDataConfig | None = None
) -> SFTExample:
    return VerifierTokenizer(tokenizer, config)(traj)


def judgement_token_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """First-token ids of the YES and NO spellings ("YES", " YES", "Yes", ...).

    A first token shared by a YES and a NO spelling is removed from both; raises if either
    side is left empty.
    """
    yes = {tokenizer.encode(v, add_special_tokens=False)[0] for v in YES_VARIANTS}
    no = {tokenizer.encode(v, add_special_tokens=False)[0] for v in NO_VARIANTS}
    shared = yes & no
    if shared:
        logger.warning("YES/NO spellings share first tokens %s; ignoring them", sorted(shared))
    yes, no = yes - shared, no - shared
    if not yes or not no:
        raise ValueError("the tokenizer gives no distinct first token for YES and NO")
    return sorted(yes), sorted(no)
