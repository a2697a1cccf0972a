"""The held-out turns the ablation scores, in token ids, with the teacher's answer and the
forced choices built from it (which tool, which file, mistake or correction)."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from swelego_ray.ablate.data import Split
from swelego_ray.schema.tool_calls import validate_call
from swelego_ray.schema.tools_schema import TOOL_NAMES

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
_NAME = re.compile(r'"name":\s*"([^"]*)"')
_PATH = re.compile(r'"path":\s*"([^"]*)"')


@dataclass(frozen=True)
class ParsedReply:
    name: str | None
    path: str | None
    valid: bool
    call_text: str
    """The reply from `<tool_call>` on ("" without one)."""


def parse_reply(text: str) -> ParsedReply:
    """The tool call of a reply; name and path are read even from a call cut off by the
    token budget; `valid` needs a complete call that fits a tool's schema."""
    start = text.find(CALL_OPEN)
    if start < 0:
        return ParsedReply(None, None, False, "")
    call = text[start:]
    name, path = _NAME.search(call), _PATH.search(call)
    valid = False
    end = call.find(CALL_CLOSE)
    if end >= 0:
        try:
            body = json.loads(call[len(CALL_OPEN) : end])
            args = body.get("arguments") if isinstance(body, dict) else None
            valid = isinstance(args, dict) and not validate_call(str(body.get("name")), args)
        except ValueError:
            valid = False
    return ParsedReply(name and name[1], path and path[1], valid, call)


@dataclass
class Choice:
    """A forced choice: the teacher's turn up to a field, then each option's value;
    `answer` indexes the teacher's (or, for a mistake, the mistaken) option."""

    options: list[list[int]]
    answer: int


@dataclass
class TurnItem:
    """One held-out assistant turn: the teacher's context and reply, in token ids."""

    prompt: list[int]
    target: list[int]
    teacher: ParsedReply
    mistake: bool = False
    mistake_call: str = ""
    correct_call: str = ""
    tool: Choice | None = None
    file: Choice | None = None
    fork: Choice | None = None
    """At a mistake: the mistaken turn vs the same thought with the correction's call, up
    to the first token where they part (option 0 = the mistake)."""


def build_items(split: Split, tokenizer: Any) -> list[TurnItem]:
    """Every held-out assistant turn, tokenised piece by piece as the SFT data path does."""
    from swelego_ray.sft import ChatTokenizer

    chat = ChatTokenizer(tokenizer, max_length=1 << 30, verify_examples=0)

    def enc(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    paths = sorted({p for t in split.heldout for p in _paths(t)})
    items = []
    for i, traj in enumerate(split.heldout):
        contexts, turns, _ = chat.pieces(traj)
        mistakes = {m.turn for m in split.mistakes.get(i, [])}
        done: list[int] = []
        for k, (context, turn) in enumerate(zip(contexts, turns, strict=True)):
            done = done + enc(context)
            item = TurnItem(prompt=list(done), target=enc(turn), teacher=parse_reply(turn))
            item.tool = _choice(enc, turn, '"name": "', list(TOOL_NAMES), item.teacher.name)
            item.file = _choice(enc, turn, '"path": "', paths, item.teacher.path)
            if k in mistakes and k + 1 < len(turns):
                _add_fork(item, enc, turn, turns[k + 1])
            items.append(item)
            done = done + item.target
    return items


def _paths(traj: Any) -> list[str]:
    out = []
    for m in traj.messages:
        for call in m.tool_calls:
            found = _PATH.search(call.function.arguments)
            if found:
                out.append(found[1])
    return out


def _choice(enc: Any, turn: str, key: str, values: list[str], answer: str | None) -> Choice | None:
    """Options = the turn up to `key`, then each value and its closing quote."""
    at = turn.find(key)
    if at < 0 or answer not in values or len(values) < 2:
        return None
    head = turn[: at + len(key)]
    return Choice([enc(f'{head}{v}"') for v in values], values.index(answer))


def _add_fork(item: TurnItem, enc: Any, turn: str, correction: str) -> None:
    fix = parse_reply(correction).call_text
    thought = turn[: max(turn.find(CALL_OPEN), 0)]
    wrong, right = item.target, enc(thought + fix)
    j = next((n for n, (a, b) in enumerate(zip(wrong, right, strict=False)) if a != b), None)
    item.mistake, item.mistake_call, item.correct_call = True, item.teacher.call_text, fix
    if j is not None:
        item.fork = Choice([wrong[: j + 1], right[: j + 1]], 0)


def sample_items(items: list[TurnItem], limit: int, seed: int) -> list[TurnItem]:
    """Every mistake position, then a seeded sample of the other turns up to `limit`."""
    mistakes = [it for it in items if it.mistake]
    others = [it for it in items if not it.mistake]
    random.Random(seed).shuffle(others)
    return mistakes + others[: max(0, limit - len(mistakes))]


def follows(item: TurnItem, reply: ParsedReply) -> str:
    """`mistake`, `correction` or `neither`: the reply's call up to one character past
    the point where the teacher's mistaken and correct calls part."""
    a, b = item.mistake_call, item.correct_call
    d = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    got = reply.call_text[: d + 1]
    if got == a[: d + 1]:
        return "mistake"
    if got == b[: d + 1]:
        return "correction"
    return "neither"
