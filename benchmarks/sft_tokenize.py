"""Tokenisation throughput of swelego_ray.sft on synthetic agent trajectories.

Compares, on the same trajectories, tokenizer and machine:
- baseline: `apply_chat_template(..., return_assistant_tokens_mask=True)` (one rendering,
  what TRL's assistant-only loss uses; no masking rules, no prefix checks);
- swelego generation-block path (after the verified first examples);
- swelego prefix-rendering path (every template; O(turns^2));
- the error-masking rules alone.

Run: .venv/bin/python benchmarks/sft_tokenize.py [--trajectories 20] [--turns 60]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from swelego_ray.agent.observations import format_bash_observation
from swelego_ray.models.tiny import build_tiny_tokenizer
from swelego_ray.schema import Trajectory
from swelego_ray.schema.tools_schema import tool_schemas
from swelego_ray.sft.masking import mask_dataset
from swelego_ray.sft.tokenize import ChatTokenizer


def synthetic(n: int, turns: int, seed: int = 0) -> list[Trajectory]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        messages = [
            {"role": "system", "content": "You are a software engineer. " * 20},
            {"role": "user", "content": "Fix the bug described here. " * 80},
        ]
        for i in range(turns):
            cmd = rng.choice(["grep -rn foo src/", "python reproduce.py", "pyhton x.py"])
            code = 127 if cmd.startswith("pyhton") else rng.choice([0, 0, 1])
            call = {
                "id": f"c{i}",
                "type": "function",
                "function": {"name": "execute_bash", "arguments": json.dumps({"command": cmd})},
            }
            messages.append(
                {
                    "role": "assistant",
                    "content": "Let me check. " * rng.randint(1, 8),
                    "tool_calls": [call],
                }
            )
            output = "src/a.py:10: def foo(x):\n    return x\n" * rng.randint(1, 30)
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": f"c{i}",
                    "content": format_bash_observation(output, code),
                }
            )
        messages.append({"role": "assistant", "content": "Done."})
        out.append(Trajectory(instance_id=f"bench-{k}", messages=messages, tools=tool_schemas()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trajectories", type=int, default=20)
    parser.add_argument("--turns", type=int, default=60)
    args = parser.parse_args()
    tok = build_tiny_tokenizer()
    trajs = synthetic(args.trajectories, args.turns)

    t0 = time.perf_counter()
    masked, report = mask_dataset(trajs)
    t_mask = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_tokens = 0
    for t in masked:
        out = tok.apply_chat_template(
            t.chat_messages(), tools=t.tools, return_dict=True, return_assistant_tokens_mask=True
        )
        n_tokens += len(out["input_ids"])
    t_base = time.perf_counter() - t0

    fast = ChatTokenizer(tok, max_length=10**7, verify_examples=0)
    t0 = time.perf_counter()
    fast_ex = [fast(t) for t in masked]
    t_fast = time.perf_counter() - t0

    prefix = ChatTokenizer(tok, max_length=10**7, verify_examples=None)
    t0 = time.perf_counter()
    prefix_ex = [prefix(t) for t in masked]
    t_prefix = time.perf_counter() - t0
    assert [e.labels for e in fast_ex] == [e.labels for e in prefix_ex]

    print(f"{args.trajectories} trajectories x {args.turns} turns, {n_tokens} tokens, 1 core")
    print(f"{'path':<44}{'s':>8}{'tokens/s':>12}")
    rows = [
        ("baseline apply_chat_template(assistant mask)", t_base),
        ("swelego generation-block path", t_fast),
        ("swelego prefix-rendering path (+checks)", t_prefix),
        ("masking rules alone", t_mask),
    ]
    for name, t in rows:
        print(f"{name:<44}{t:>8.2f}{n_tokens / t:>12.0f}")
    print(report.render())


if __name__ == "__main__":
    main()
