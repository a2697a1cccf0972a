"""Single-turn generation two ways, on the tiny model and vLLM's CPU engine: the client
against a local vLLM server (LocalServer, `max_concurrency` requests in flight) vs Ray
Data batch inference with vLLM inside the job (`swelego_ray.llm.batch`), for the same
conversations (LLM-rewrite prompts of a small module). Prints start-up and generation
time for each, and tokens per second.

    .venv/bin/python benchmarks/llm_bench.py [--requests 32] [--max-tokens 64]

Start-up dominates on this machine (two vLLM imports for the server; Ray, actors and the
engine for Ray Data); the batch path is meant for thousands of requests on GPUs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_common import load_average, machine_description, now_utc, print_table, write_results

from swelego_ray.llm import LLMClient
from swelego_ray.llm.batch import RayDataLLMConfig, generate_batch
from swelego_ray.llm.local_server import LocalServer
from swelego_ray.models.tiny import build_tiny_model
from swelego_ray.synth.llm_rewrite import Variant, rewrite_messages

MODULE = '''"""Helpers."""


def clamp(value, low, high):
    """`value` limited to [low, high]."""
    if value < low:
        return low
    if value > high:
        return high
    return value
'''


def conversations(n: int) -> list[list[dict]]:
    variants = [Variant.BUG, Variant.REWRITE]
    return [rewrite_messages(variants[i % 2], MODULE, "clamp", f"m{i}.py") for i in range(n)]


def via_server(model: Path, convs, max_tokens: int, concurrency: int) -> dict:
    start = time.monotonic()
    with LocalServer(model, served_model_name="tiny", max_model_len=2048) as server:
        ready = time.monotonic() - start
        client = LLMClient(server.config(max_concurrency=concurrency))
        t = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda c: client.chat(c, max_tokens=max_tokens, temperature=0.7), convs))
        gen = time.monotonic() - t
    tokens = client.usage.completion_tokens
    return {"startup_s": ready, "generate_s": gen, "completion_tokens": tokens}


def via_ray_data(model: Path, convs, max_tokens: int) -> dict:
    from swelego_ray._ray import init_ray

    start = time.monotonic()
    init_ray()
    config = RayDataLLMConfig(
        model_source=str(model),
        cpu_per_engine=0.5,
        batch_size=8,
        max_tokens=max_tokens,
        engine_kwargs={"max_model_len": 2048},
    )
    answers = generate_batch(convs, config, seeds=list(range(len(convs))))
    wall = time.monotonic() - start
    errors = sum(1 for a in answers if a.error)
    tokens = sum(a.completion_tokens for a in answers)
    return {"wall_s": wall, "completion_tokens": tokens, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="llm-bench-") as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        convs = conversations(args.requests)
        server = via_server(model, convs, args.max_tokens, args.concurrency)
        batch = via_ray_data(model, convs, args.max_tokens)
    rows = [
        [
            "server + client",
            f"{server['startup_s']:.1f}",
            f"{server['generate_s']:.1f}",
            f"{server['completion_tokens'] / server['generate_s']:.0f}",
        ],
        ["ray.data.llm", "-", f"{batch['wall_s']:.1f} (with start-up)", "-"],
    ]
    print_table(["path", "start-up s", "generation s", "completion tok/s"], rows)
    print(f"ray.data.llm: {batch['completion_tokens']} tokens, {batch['errors']} failed rows")
    write_results(
        "llm",
        {
            "time": now_utc(),
            "machine": machine_description(),
            "load_avg_before": load_before,
            "load_avg_after": load_average(),
            "args": vars(args),
            "server": server,
            "ray_data": batch,
        },
    )


if __name__ == "__main__":
    main()
