"""The TTS app on Ray Serve against the baseline of calling vLLM directly, on the tiny
model and vLLM's CPU engine, all on loopback. Prints in one run:

1. Serve overhead per request: p50 latency of the same one-token chat request through the
   app (proxy -> TTS ingress -> Ray Serve LLM) vs vLLM's own OpenAI server (LocalServer).
2. Throughput and p50 / p99 latency of both under a bounded concurrent load.
3. TTS wall time of K=4 vs K=1 on a sample task, through the app (replay teacher: the
   rollouts' own cost, not the tiny policy's: on 2 cores, CPU-bound), and in the regime
   the target is about (<= 1.5x "with enough replicas"): rollouts that wait on a served
   model. With no GPU here, the replay teacher's `think_time_s` (default 1 s per turn)
   stands in for the policy's generation time; the rollouts' sandboxes and the verifier
   are real (TTSRunner, the app's own runner, in this process).

    .venv/bin/python benchmarks/serve_bench.py [--requests 64] [--concurrency 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from bench_common import (
    CpuMeter,
    load_average,
    machine_description,
    now_utc,
    print_table,
    write_results,
)

from swelego_ray._ray import init_ray
from swelego_ray.llm.local_server import LocalServer, free_port
from swelego_ray.models.tiny import build_tiny_model
from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
from swelego_ray.serve import ServeConfig, TTSSettings
from swelego_ray.serve.client import TTSClient
from swelego_ray.serve.records import TTSRequest
from swelego_ray.serve.server import RunningApp
from swelego_ray.serve.tts import TTSRunner
from swelego_ray.sft.verifier_score import VerifierScorer

TASK = "swelego-samples__cronlite-1"
REQUEST = {"messages": [{"role": "user", "content": "Fix the failing test."}], "max_tokens": 1,
           "temperature": 0.0}  # fmt: skip


async def _load(url: str, model: str, n: int, concurrency: int) -> dict:
    """`n` requests, at most `concurrency` in flight: latencies and throughput."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=300, trust_env=False) as http:

        async def one() -> None:
            async with gate:
                t = time.perf_counter()
                r = await http.post("/v1/chat/completions", json=REQUEST | {"model": model})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(one() for _ in range(3)))  # warm-up
        latencies.clear()
        begin = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - begin
    q = statistics.quantiles(latencies, n=100)
    return {"p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3, "rps": n / wall}


async def _runner_wall(runner: TTSRunner, score, k: int, repeats: int) -> float:
    walls = []
    for seed in range(repeats):
        response = await runner.run(TTSRequest(instance_id=TASK, k=k, seed=seed), score)
        assert all(c.ok for c in response.candidates), response
        walls.append(response.timings.total_s)
    return statistics.median(walls)


def _model_bound(root: Path, repos: Path, model: Path, think_s: float, repeats: int) -> dict:
    """K=1 and K=4 through TTSRunner with a replay teacher that takes `think_s` per turn."""
    settings = TTSSettings(
        tasks=[str(sample_tasks_path())],
        repos_dir=str(repos),
        cache_root=str(root / "cache"),
        teacher="replay",
        replay={"think_time_s": think_s},
        k_max=4,
        max_turns=30,
        progress=False,
    )
    runner, verifier = TTSRunner(settings, None), VerifierScorer(model)

    async def score(trajectory) -> float:
        return (await asyncio.to_thread(verifier.score, [trajectory]))[0]

    asyncio.run(_runner_wall(runner, score, 4, 1))  # environments, workers
    k1 = asyncio.run(_runner_wall(runner, score, 1, repeats))
    k4 = asyncio.run(_runner_wall(runner, score, 4, repeats))
    return {"think_time_s": think_s, "k1_s": k1, "k4_s": k4, "ratio": k4 / k1}


async def _tts_wall(url: str, k: int, repeats: int) -> float:
    client = TTSClient(url)
    walls = []
    for seed in range(repeats):
        response = await client.tts(TTSRequest(instance_id=TASK, k=k, seed=seed))
        assert all(c.ok for c in response.candidates), response
        walls.append(response.timings.total_s)
    await client.aclose()
    return statistics.median(walls)


def _interleaved(urls: dict[str, str], n: int, concurrency: int, rounds: int) -> dict:
    """Each path measured in turn, `rounds` times (A B A B ...): a load change on the
    machine hits both alike; the median round per path."""
    runs: dict[str, list[dict]] = {name: [] for name in urls}
    for _ in range(rounds):
        for name, url in urls.items():
            runs[name].append(asyncio.run(_load(url, "policy", n, concurrency)))
    return {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in runs.items()
    }


def _k_ratio(title: str, r: dict) -> str:
    verdict = "met" if r["ratio"] <= 1.5 else "NOT met"
    return (
        f"{title}: K=1 {r['k1_s']:.1f} s, K=4 {r['k4_s']:.1f} s -> {r['ratio']:.2f}x "
        f"(target <= 1.5x: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--think-time", type=float, default=1.0,
                        help="seconds per model turn in the model-bound TTS scenario")  # fmt: skip
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    model = build_tiny_model(root / "tiny", seed=0)
    repos = materialize_sample_repos(root / "repos")
    results: dict = {"when": now_utc(), "machine": machine_description(), "args": vars(args)}
    results["load_before"] = load_average()

    init_ray(num_cpus=8)
    config = ServeConfig(
        policy={"model": str(model), "max_model_len": 2048},
        verifier={"model": str(model), "cpus": 0.5},
        tts={
            "tasks": [str(sample_tasks_path())],
            "repos_dir": str(repos),
            "teacher": "replay",
            "k_max": 4,
            "max_turns": 30,
            "progress": False,
        },
        http={"port": free_port()},
    )
    with (
        LocalServer(model, served_model_name="policy", max_model_len=2048) as direct,
        RunningApp(config) as app,
    ):
        results["serve_startup_s"] = app.startup_s
        urls = {"direct": direct.base_url.removesuffix("/v1"), "serve": app.base_url}
        single = _interleaved(urls, 32, 1, args.repeats)
        loaded = _interleaved(urls, args.requests, args.concurrency, args.repeats)
        for name in urls:
            results[name] = {"single": single[name], "loaded": loaded[name]}
        asyncio.run(_tts_wall(app.base_url, 4, 1))  # start the rollout workers
        meter = CpuMeter().start()
        k1 = asyncio.run(_tts_wall(app.base_url, 1, args.repeats))
        k1_cpu = meter.stop()
        meter = CpuMeter().start()
        k4 = asyncio.run(_tts_wall(app.base_url, 4, args.repeats))
        k4_cpu = meter.stop()
        results["tts"] = {
            "k1_s": k1,
            "k4_s": k4,
            "ratio": k4 / k1,
            "busy_cores_k1": k1_cpu["busy_cores"],
            "busy_cores_k4": k4_cpu["busy_cores"],
        }
    results["tts_model_bound"] = _model_bound(root, repos, model, args.think_time, args.repeats)
    results["load_after"] = load_average()

    d, s = results["direct"], results["serve"]
    print_table(
        ["path", "p50 single (ms)", "p50 loaded (ms)", "p99 loaded (ms)", "req/s loaded"],
        [
            [name, f"{r['single']['p50_ms']:.1f}", f"{r['loaded']['p50_ms']:.1f}",
             f"{r['loaded']['p99_ms']:.1f}", f"{r['loaded']['rps']:.1f}"]
            for name, r in (("vLLM server (baseline)", d), ("Ray Serve TTS app", s))
        ],
    )  # fmt: skip
    overhead = s["single"]["p50_ms"] - d["single"]["p50_ms"]
    print(f"\nServe overhead per request (p50, one in flight): {overhead:.1f} ms")
    t, m = results["tts"], results["tts_model_bound"]
    print(
        f"{_k_ratio('TTS wall time', t)}; busy cores {t['busy_cores_k1']} (K=1) vs "
        f"{t['busy_cores_k4']} (K=4) of {machine_description()['cores']}; load "
        f"{results['load_before']} -> {results['load_after']}"
    )
    what = f"rollouts waiting on a model ({m['think_time_s']:g} s per turn, GPU stand-in)"
    print(_k_ratio(f"TTS wall time, {what}", m))
    print(f"results: {write_results('serve_bench', results)}")


if __name__ == "__main__":
    main()
