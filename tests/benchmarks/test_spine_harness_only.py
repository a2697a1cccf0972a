"""Smoke test of `spine_bench.py --harness-only`: the harness-vs-raw measurement alone on one
sample task; checks the results' structure and that the overhead comes from the measured
times. No timing assertions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_common  # noqa: E402
import spine_bench  # noqa: E402

TASK = "swelego-samples__inikit-4"


@pytest.mark.slow
def test_harness_only_on_one_task(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_common, "RESULTS_DIR", tmp_path / "results")
    out = tmp_path / "out.json"
    argv = ["--harness-only", "--repeats", "1", "--max-wait-s", "0", "--task", TASK]
    spine_bench.main([*argv, "--cache-root", str(tmp_path / "cache"), "--json", str(out)])

    results = json.loads(out.read_text())
    assert results["name"] == "spine-harness" and results["tasks"] == [TASK]
    assert "start_latency" not in results and "throughput" not in results
    harness = results["harness"]
    (row,) = harness["per_task"]
    assert row["instance_id"] == TASK and len(row["harness_runs_s"]) == 1
    expected = round(100 * (row["harness_s"] - row["raw_s"]) / row["raw_s"], 1)
    assert harness["overhead_pct"] == expected
    printed = capsys.readouterr().out
    assert f"harness overhead: {harness['overhead_pct']} %" in printed
    assert len(list((tmp_path / "results").glob("spine-harness-*.json"))) == 1


def test_harness_only_refuses_a_reference_or_docker():
    for extra in (["--save-reference"], ["--backend", "docker"]):
        with pytest.raises(SystemExit):
            spine_bench.main(["--harness-only", *extra])
