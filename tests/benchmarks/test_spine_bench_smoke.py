"""Smoke test of benchmarks/spine_bench.py: the whole benchmark on two sample tasks with
tiny repeats; checks the results' structure and that derived figures come from the measured
ones. No timing assertions (performance claims live in the benchmark's output)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_common  # noqa: E402
import run_all  # noqa: E402
import spine_bench  # noqa: E402

TASKS = ["swelego-samples__inikit-1", "swelego-samples__inikit-2"]


def test_run_all_finds_every_benchmark_script_and_no_helper():
    names = {p.name for p in run_all.benchmark_scripts()}
    assert {"spine_bench.py", "sandbox_bench.py"} <= names
    assert not names & {"run_all.py", "bench_common.py", "spine_measure.py"}


@pytest.mark.slow
def test_spine_bench_on_two_tasks(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_common, "RESULTS_DIR", tmp_path / "results")
    out = tmp_path / "out.json"
    argv = ["--repeats", "1", "--start-n", "2", "--skip-docker", "--max-wait-s", "0"]
    argv += ["--cache-root", str(tmp_path / "cache"), "--json", str(out), "--profile"]
    for task in TASKS:
        argv += ["--task", task]
    spine_bench.main(argv)

    results = json.loads(out.read_text())
    assert results["tasks"] == TASKS
    assert list((tmp_path / "results").glob("spine-*.json"))  # the per-run file, too

    start = results["start_latency"]
    for backend in ("local", "local (copy workspace)"):
        row = start[backend]
        assert row["n"] == 2
        assert 0 < row["start_p50_ms"] <= row["start_plus_first_exec_p50_ms"]
    assert start["docker"] == {"unavailable": "skipped (--skip-docker)"}

    harness = results["harness"]
    assert [t["instance_id"] for t in harness["per_task"]] == TASKS
    for t in harness["per_task"]:
        assert t["harness_s"] > 0 and t["raw_s"] > 0
        assert t["harness_s"] == t["harness_runs_s"][0] and t["raw_s"] == t["raw_runs_s"][0]
        # the bench computes from unrounded times; the JSON keeps 4 decimals of each
        recomputed = 100 * (t["harness_s"] - t["raw_s"]) / t["raw_s"]
        assert t["overhead_pct"] == pytest.approx(recomputed, abs=0.15)
        assert t["test_command"].startswith("pytest -rA ")
    h = sum(t["harness_s"] for t in harness["per_task"])
    r = sum(t["raw_s"] for t in harness["per_task"])
    assert harness["overhead_pct"] == round(100 * (h - r) / r, 1)

    phases = {p["phase"]: p for p in results["harness_profile"]["phases"]}
    whole = phases["whole path (run_evaluation)"]["s_per_task"]
    run = phases["reset + patches + test run (one sandbox command)"]
    assert run["calls_per_task"] == 1
    assert 0 < run["s_per_task"] < whole
    assert results["harness_profile"]["sandbox_commands_per_task"] >= 1

    tp = results["throughput"]
    one, two = tp["by_workers"]["1"], tp["by_workers"]["2"]
    assert one["tasks_per_s"] == round(2 / one["wall_s"], 3)
    assert tp["speedup"] == pytest.approx(one["wall_s"] / two["wall_s"])
    assert tp["in_process"]["tasks_per_s"] == round(2 / tp["in_process"]["wall_s"], 3)

    rows = {row["key"]: row for row in results["metrics"]}
    assert rows["harness_overhead_pct"]["measured"] == harness["overhead_pct"]
    assert rows["harness_overhead_pct"]["met"] == (harness["overhead_pct"] <= 15)
    assert rows["docker_start_ready_p50_ms"]["text"].startswith("unavailable: ")
    assert rows["speedup_2w"]["met"] == (rows["speedup_2w"]["measured"] >= 1.7)
    assert set(results["load"]) == {"start latency", "harness", "throughput", "end"}

    printed = capsys.readouterr().out
    assert "metric" in printed and "met?" in printed and "load average" in printed
    assert "harness overhead over the raw test run" in printed
