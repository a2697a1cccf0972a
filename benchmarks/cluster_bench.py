"""Per-item costs for the capacity note (cluster/README.md), measured on this machine, and
the capacity they imply on the cluster definition (cluster/node_types.yaml).

    .venv/bin/python benchmarks/cluster_bench.py [--tasks 6] [--tasks-n 2000] [--rollouts-k 16]
        [--max-load 3] [--max-wait-s 300]

Measured here, each beside a named baseline:
- Ray task overhead: a no-op task through ray.remote (2 in flight) vs the same call
  in-process;
- result storage: write + exists + read of one result JSON on an S3-compatible server on
  loopback (moto) vs a local directory (moto on loopback is NOT AWS S3: expect more
  latency there, see the assumptions);
- evaluation per instance: the sample tasks (examples/), gold patches, local sandbox
  backend, environments prebuilt: fan-out on Ray with 2 workers vs in-process, 1 worker.
Then a capacity table for N tasks and K rollouts per task; every number that is an
assumption (not measured here) is printed as one, with its value.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common as common

NAME = "cluster"

# Assumptions for a real SWE-bench-scale run (NOT measured here; change them to yours).
ASSUMED = {
    "eval_s_real": 240.0,  # one real instance: env from image cache, patch, full test run
    "validate_runs_real": 4,  # broken + fixed states x runs=2 (baselines cached apart)
    "rollout_turns": 50,  # mean assistant turns per rollout (the paper caps at 100)
    "tool_s_per_turn": 2.0,  # sandbox exec per turn (bash/editor), real repositories
    "llm_s_per_turn": 4.0,  # policy latency per turn on a gpu-serve replica, batched
    "rollouts_per_serve_gpu": 32,  # concurrent rollouts one L40S replica keeps busy (8B)
    "sft_gpu_hours_per_1k_traj": 6.0,  # 8B, 4 epochs, long context, per 1k trajectories
    "s3_put_get_ms": 60.0,  # one small PUT + HEAD + GET on AWS S3 in-region
}


def measure_ray_overhead(n: int = 200) -> dict[str, float]:
    import ray

    from swelego_ray._ray import init_ray

    def noop(x: int) -> int:
        return x

    start = time.perf_counter()
    for i in range(n):
        noop(i)
    local_ms = (time.perf_counter() - start) * 1000 / n
    init_ray(num_cpus=2)
    remote = ray.remote(noop).options(num_cpus=1)
    ray.get([remote.remote(i) for i in range(10)])  # warm the workers
    start = time.perf_counter()
    ray.get([remote.remote(i) for i in range(n)])
    ray_ms = (time.perf_counter() - start) * 1000 / n
    ray.shutdown()
    return {"ray_task_ms": ray_ms, "in_process_ms": local_ms}


def measure_storage(n: int = 50) -> dict[str, float]:
    import logging
    import os

    from moto.server import ThreadedMotoServer

    from swelego_ray.storage import Store

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    os.environ.update(
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_EC2_METADATA_DISABLED="true"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import boto3

    boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1").create_bucket(
        Bucket="bench"
    )
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, uri in [
            ("s3_loopback_ms", f"s3://bench/r?endpoint_override={host}:{port}&scheme=http"),
            ("local_dir_ms", tmp),
        ]:
            store = Store(uri)
            record = {"resolved": True, "log": "x" * 2000}
            start = time.perf_counter()
            for i in range(n):
                store.write_json(f"evaluate/i{i}/k.json", record)
                assert store.exists(f"evaluate/i{i}/k.json")
                store.read_json(f"evaluate/i{i}/k.json")
            out[name] = (time.perf_counter() - start) * 1000 / n
    server.stop()
    return out


def measure_evaluation(n_tasks: int) -> dict[str, Any]:
    from swelego_ray.envs.builder import EnvBuilder
    from swelego_ray.evaluate import EvaluateConfig, run_evaluation
    from swelego_ray.harness import task_environment
    from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
    from swelego_ray.sandbox import Limits
    from swelego_ray.schema import read_tasks, write_tasks

    root = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    repos = materialize_sample_repos(root / "repos")
    cache = root / "cache"
    tasks = read_tasks(sample_tasks_path())[:n_tasks]
    tasks_file = write_tasks(tasks, root / "tasks.jsonl")
    builder = EnvBuilder(cache)
    envs = {task_environment(t, repos, cache).key: t for t in tasks}
    start = time.perf_counter()
    for task in envs.values():
        builder.ensure(task_environment(task, repos, cache))
    build_s = (time.perf_counter() - start) / max(1, len(envs))
    out: dict[str, Any] = {"env_build_s": build_s, "envs": len(envs), "tasks": len(tasks)}
    from swelego_ray._ray import init_ray

    init_ray(num_cpus=2)  # Ray's own start (~5 s) is not part of the per-item cost
    for name, extra in [
        ("in_process", {"in_process": True, "workers": 1}),
        ("ray_2", {"workers": 2}),
    ]:
        cfg = EvaluateConfig(
            tasks=str(tasks_file), predictions="gold", repos_dir=str(repos),
            out=str(root / f"out-{name}"), cache_root=str(cache),
            backend={"kind": "local", "cache_root": str(cache)}, timeout_s=600, progress=False,
            limits=Limits(timeout_s=120, memory_mb=2048), **extra,
        )  # fmt: skip
        start = time.perf_counter()
        report = run_evaluation(cfg)
        wall = time.perf_counter() - start
        items = [
            json.loads(p.read_text()) for p in (root / f"out-{name}").glob("evaluate/*/*.json")
        ]
        durations = [r["duration_s"] for r in items]
        out[name] = {
            "wall_s": wall,
            "resolved": report.resolved_instances,
            "item_median_s": statistics.median(durations),
            "items_per_min": 60 * len(tasks) / wall,
        }
    return out


def capacity(spec: Any, measured: dict[str, Any], n: int, k: int) -> list[list[str]]:
    """Node counts, hours and cost for N tasks and K rollouts on this cluster definition."""
    sb = spec.node_types["sandbox-cpu"]
    g8 = spec.node_types["gpu-8x"]
    gs = spec.node_types["gpu-serve"]
    slots = sb.resources["sandbox"] * sb.max_workers
    rows = []

    def row(what: str, node: str, nodes: int, hours: float, usd_h: float, basis: str) -> None:
        rows.append(
            [what, node, str(nodes), f"{hours:.3f}", f"${nodes * hours * usd_h:,.2f}", basis]
        )

    eval_here = measured["evaluation"]["ray_2"]["item_median_s"]
    for label, per_item, basis in [
        ("evaluate (samples)", eval_here, "measured item time"),
        ("evaluate (real)", ASSUMED["eval_s_real"], "assumed item time"),
        ("validate (real)", ASSUMED["eval_s_real"] * ASSUMED["validate_runs_real"], "assumed"),
    ]:
        hours = n * per_item / slots / 3600
        row(f"{label}, N={n}", "sandbox-cpu", sb.max_workers, hours, sb.hourly_usd, basis)
    turns = ASSUMED["rollout_turns"]
    rollout_s = turns * (ASSUMED["tool_s_per_turn"] + ASSUMED["llm_s_per_turn"])
    concurrent = min(slots, gs.max_workers * ASSUMED["rollouts_per_serve_gpu"])
    hours = n * k * rollout_s / concurrent / 3600
    sandbox_nodes = -(-concurrent // sb.resources["sandbox"])  # ceil
    serve_nodes = -(-concurrent // ASSUMED["rollouts_per_serve_gpu"])
    row(f"rollouts N={n} x K={k} (sandboxes)", "sandbox-cpu", sandbox_nodes, hours,
        sb.hourly_usd, "assumed turns/latency")  # fmt: skip
    row(f"rollouts N={n} x K={k} (policy)", "gpu-serve", serve_nodes, hours, gs.hourly_usd,
        "assumed replica load")  # fmt: skip
    traj = n * k * 0.4  # assumed: 40% of rollouts are kept (resolved + semi-resolved)
    gpu_h = traj / 1000 * ASSUMED["sft_gpu_hours_per_1k_traj"]
    nodes = max(1, min(g8.max_workers, round(gpu_h / g8.gpus / 24) or 1))
    row(f"SFT on {traj:,.0f} trajectories", "gpu-8x", nodes, gpu_h / (g8.gpus * nodes),
        g8.hourly_usd, "assumed GPU-hours")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=6, help="sample tasks to evaluate")
    parser.add_argument("--tasks-n", type=int, default=2000, help="N for the capacity table")
    parser.add_argument("--rollouts-k", type=int, default=16, help="K for the capacity table")
    parser.add_argument("--max-load", type=float, default=3.0)
    parser.add_argument("--max-wait-s", type=float, default=300.0)
    args = parser.parse_args(argv)

    from swelego_ray.cluster import load_spec

    quiet = common.wait_for_quiet(args.max_load, args.max_wait_s)
    measured = {
        "machine": common.machine_description(),
        "quiet": quiet,
        "ray": measure_ray_overhead(),
        "storage": measure_storage(),
        "evaluation": measure_evaluation(args.tasks),
        "assumed": ASSUMED,
    }
    ray_, st, ev = measured["ray"], measured["storage"], measured["evaluation"]
    print(f"\nPer-item costs, measured here (load {quiet['load_avg']}):")
    common.print_table(
        ["what", "measured", "baseline", "baseline is"],
        [
            ["Ray task overhead (ms/task)", f"{ray_['ray_task_ms']:.2f}",
             f"{ray_['in_process_ms']:.4f}", "in-process call"],
            ["result write+exists+read (ms)", f"{st['s3_loopback_ms']:.1f}",
             f"{st['local_dir_ms']:.2f}", "local directory"],
            [f"evaluate {ev['tasks']} samples, wall (s)", f"{ev['ray_2']['wall_s']:.1f}",
             f"{ev['in_process']['wall_s']:.1f}", "in-process, 1 worker"],
            ["evaluate, median per instance (s)", f"{ev['ray_2']['item_median_s']:.2f}",
             f"{ev['in_process']['item_median_s']:.2f}", "in-process, 1 worker"],
            ["environment build, per env (s)", f"{ev['env_build_s']:.1f}", "-", "-"],
        ],
    )  # fmt: skip
    print(f"\nCapacity on cluster/node_types.yaml, N={args.tasks_n} tasks, K={args.rollouts_k}:")
    common.print_table(
        ["stage", "node type", "nodes", "hours", "cost", "basis"],
        capacity(load_spec(), measured, args.tasks_n, args.rollouts_k),
    )
    print("\nAssumptions (not measured here): " + json.dumps(ASSUMED))
    path = common.write_results(NAME, measured)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
