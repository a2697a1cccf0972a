"""The rollout stage: throughput with 1 vs 2 engine actors, the agent loop's per-turn
overhead, and how much of the sandbox start hides behind the teacher's first answer.

    .venv/bin/python benchmarks/rollout_bench.py [--turns 100] [--skip-llm] [--json F]

1. Rollouts/min on the 12 sample tasks with the replay teacher (mistake rate 0.2), with
   1 and 2 actors, after an untimed warm-up run that builds the environments and the kept
   start states (each timed run writes to a new output: nothing is reused).
2. Per-turn overhead outside the model call: an episode whose scripted teacher (a test
   double: it answers instantly) runs `true` every turn; the turn's wall time is the
   loop's overhead (parse, tool dispatch, session round trip, history). Baseline: the
   same command as one sandbox exec per command (a new bubblewrap sandbox each time).
   Target p50 <= 20 ms.
3. Start hidden: rollouts with the real tiny model served by vLLM on loopback (its
   answers take real time), share of the sandbox start spent while it answered.
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

from bench_common import machine_description, now_utc, print_table, write_results

from swelego_ray.agent.loop import AgentConfig, Episode
from swelego_ray.agent.tools import Toolbox
from swelego_ray.llm import ChatResult, ToolCall
from swelego_ray.rollout import RolloutConfig, run_rollouts
from swelego_ray.samples import materialize_sample_repos, sample_tasks_path


class TrueTeacher:
    """A scripted teacher (no model): `true` every turn, answered instantly."""

    name = "bench-true"

    def __init__(self) -> None:
        self.n = 0

    def reply(self, messages: Any, tools: Any) -> ChatResult:
        self.n += 1
        call = ToolCall(id=f"c{self.n}", name="execute_bash", arguments='{"command": "true"}')
        return ChatResult("", (call,), "tool_calls", 0, 0, self.name, 0.0)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def throughput(root: Path, repos: Path, workers: int, tag: str) -> dict[str, Any]:
    cfg = RolloutConfig(
        tasks=str(sample_tasks_path()),
        out=str(root / f"out-{tag}"),
        repos_dir=str(repos),
        cache_root=str(root / "cache"),
        workers=workers,
        progress=False,
        teacher={"kind": "replay", "replay": {"mistake_rate": 0.2, "seed": 1}},
    )
    start = time.perf_counter()
    report = run_rollouts(cfg)
    wall = time.perf_counter() - start
    return {
        "workers": workers,
        "episodes": report.episodes,
        "resolved": report.labels.get("resolved", 0),
        "wall_s": round(wall, 2),
        "per_min": round(60 * report.episodes / wall, 2),
    }


def turn_overhead(root: Path, repos: Path, turns: int) -> dict[str, Any]:
    from swelego_ray.envs import get_backend
    from swelego_ray.harness import start_task_sandbox, task_environment
    from swelego_ray.sandbox import Limits
    from swelego_ray.schema import read_tasks

    task = read_tasks(sample_tasks_path())[0]
    backend = get_backend("local", cache_root=root / "cache")
    env = task_environment(task, repos)
    backend.prepare(env)
    sandbox, _head = start_task_sandbox(backend, env, task, Limits(), [])
    with sandbox:
        with sandbox.session() as shell:
            times: list[float] = []
            tools = Toolbox(shell)
            episode = Episode("bench", "bench", tools, TrueTeacher(), AgentConfig(max_turns=turns))
            last = [time.perf_counter()]

            def tick(_trajectory: Any) -> None:
                now = time.perf_counter()
                times.append((now - last[0]) * 1000)
                last[0] = now

            episode.run(on_step=tick)
        per_exec = []
        for _ in range(30):
            t0 = time.perf_counter()
            sandbox.exec("true")
            per_exec.append((time.perf_counter() - t0) * 1000)
    turn_ms = times[1:-1]  # the first includes set-up, the last is the final save
    return {
        "turns": len(turn_ms),
        "loop_p50_ms": round(_pct(turn_ms, 0.5), 2),
        "loop_p95_ms": round(_pct(turn_ms, 0.95), 2),
        "exec_p50_ms": round(_pct(per_exec, 0.5), 2),
        "exec_p95_ms": round(_pct(per_exec, 0.95), 2),
    }


def start_hidden(root: Path, repos: Path) -> dict[str, Any]:
    from swelego_ray.llm.local_server import LocalServer
    from swelego_ray.models.tiny import build_tiny_model

    model = build_tiny_model(root / "tiny", seed=0)
    with LocalServer(model, served_model_name="tiny", log_path=root / "vllm.log") as server:
        llm = server.config(sampling={"max_tokens": 48})
        cfg = RolloutConfig(
            tasks=str(sample_tasks_path()),
            out=str(root / "out-llm"),
            repos_dir=str(repos),
            cache_root=str(root / "cache"),
            workers=2,
            progress=False,
            instance_ids=[
                "swelego-samples__cronlite-1",
                "swelego-samples__inikit-1",
                "swelego-samples__ledgerly-1",
            ],
            teacher={"kind": "endpoint", "llm": llm.model_dump()},
            agent={"max_turns": 3, "episode_timeout_s": 300},
        )
        report = run_rollouts(cfg)
    return {
        "episodes": report.episodes,
        "mean_start_s": report.mean_start_s,
        "start_hidden": report.start_hidden,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100, help="turns of the overhead episode")
    parser.add_argument("--skip-llm", action="store_true", help="skip the served-model part")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    from swelego_ray._ray import init_ray

    init_ray()
    results: dict[str, Any] = {"date": now_utc(), "machine": machine_description()}
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
        root = Path(tmp)
        repos = materialize_sample_repos(root / "repos")
        throughput(root, repos, 2, "warmup")  # builds environments and start states
        runs = {w: [throughput(root, repos, w, f"{w}w-{r}") for r in range(2)] for w in (1, 2)}
        results["throughput"] = runs
        results["turn_overhead"] = turn_overhead(root, repos, args.turns)
        if not args.skip_llm:
            results["start_hidden"] = start_hidden(root, repos)
    per_min = {w: statistics.median(r["per_min"] for r in rs) for w, rs in runs.items()}
    overhead = results["turn_overhead"]
    rows = [
        ["rollouts/min, 1 actor (replay, 12 tasks)", f"{per_min[1]:.1f}", "-", "-"],
        ["rollouts/min, 2 actors", f"{per_min[2]:.1f}", f"{per_min[1]:.1f} (1 actor)",
         f"speed-up {per_min[2] / per_min[1]:.2f}x"],
        ["per-turn loop overhead p50 / p95 (ms)",
         f"{overhead['loop_p50_ms']} / {overhead['loop_p95_ms']}",
         f"{overhead['exec_p50_ms']} / {overhead['exec_p95_ms']} (bwrap per command)",
         "meets <= 20 ms" if overhead["loop_p50_ms"] <= 20 else "MISSES <= 20 ms"],
    ]  # fmt: skip
    if "start_hidden" in results:
        hidden = results["start_hidden"]
        rows.append(
            [
                "sandbox start hidden behind the first model call",
                f"{100 * hidden['start_hidden']:.0f} %",
                "0 % (start, then call)",
                f"start {hidden['mean_start_s']} s",
            ]
        )
    print_table(["metric", "measured", "baseline", "note"], rows)
    path = write_results("rollout", results, args.json)
    print(f"results: {path}")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"})[:2000])


if __name__ == "__main__":
    main()
