"""The main job (`swelego demo`) end to end on the sample repositories from examples/:
validation recomputes every recorded FAIL_TO_PASS / PASS_TO_PASS list, gold resolves
every task, empty none, the sample model exactly its gold-copied predictions; AST tasks
are synthesized from the sample packages; the replay teacher's episodes on every task
are judged resolved and exported; the tiny model trains on them; a verifier trains on
labelled episodes; policy and verifier are served on Ray Serve, the served policy drives
graded rollouts and TTS@k is measured against Pass@1; the report is written; a second run
reuses every finished result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.demo import DemoConfig, run_demo
from swelego_ray.samples import sample_predictions_path, sample_tasks_path
from swelego_ray.schema import read_tasks, read_trajectories


@pytest.mark.slow
def test_demo_on_the_samples(ray_local, sandbox_cache, tmp_path: Path):
    cfg = DemoConfig(
        workdir=str(tmp_path),
        cache_root=str(sandbox_cache),
        progress=False,
        synth_per_repo=1,
        validation_runs=1,  # flake detection has its own tests; one run keeps this short
        tts_tasks=1,
        tts_k=3,
    )
    result = run_demo(cfg)
    n_tasks = len(read_tasks(sample_tasks_path()))
    assert n_tasks == 12
    assert result.validated == n_tasks and result.dropped == 0
    assert result.mismatched_tests == []
    gold, empty, model = (result.evaluations[k] for k in ("gold", "empty", "sample-model"))
    assert gold["resolved_instances"] == n_tasks, gold["reasons"]
    assert empty["resolved_instances"] == 0 and empty["empty_patch_instances"] == n_tasks
    assert empty["unresolved_instances"] == 0  # SWE-bench: empty patches count nowhere else
    tasks = {t.instance_id: t for t in read_tasks(sample_tasks_path())}
    rows = [json.loads(line) for line in sample_predictions_path().read_text().splitlines()]
    copies = sum(
        bool(r["model_patch"]) and r["model_patch"] == tasks[r["instance_id"]].patch for r in rows
    )
    assert model["resolved_instances"] == copies
    assert model["empty_patch_instances"] == sum(not r["model_patch"] for r in rows)
    assert result.synthesized >= 1 and result.synthesis["out"] == result.synthesized
    episodes = n_tasks + result.synthesized
    rollouts = result.rollouts
    assert rollouts["episodes"] == rollouts["kept"] == episodes, rollouts
    assert rollouts["labels"] == {"resolved": episodes} and not rollouts["failed"]
    sft_data = read_trajectories(tmp_path / "rollout" / "sft.jsonl")
    assert len(sft_data.trajectories) == episodes and not sft_data.errors
    assert result.sft["final_loss"] < 20 and Path(result.sft["model"]).is_dir()
    assert Path(result.verifier["model"]).is_dir()
    labels = [json.loads(x)["label"] for x in (tmp_path / "verifier-data.jsonl").open()]
    assert "resolved" in labels and set(labels) - {"resolved"}  # both classes to learn from
    tts = result.tts
    assert tts["chat"]["tokens"] > 0 and not tts["failed"], tts
    assert tts["served-policy"]["tasks"] == 1 and tts["replay"]["tasks"] == 1
    replay = tts["replay"]
    assert list(replay["tts_at_k"]) == ["1", "2", "3"]
    assert all(replay["tts_at_k"][k] <= replay["pass_at_k"][k] for k in replay["tts_at_k"])
    assert json.loads((tmp_path / "tts.json").read_text())["tasks"] == 1
    assert Path(result.report).is_file() and (tmp_path / "report.md").is_file()
    assert result.ok

    again = run_demo(cfg)
    assert again.evaluations["gold"]["funnel"]["reused_from_earlier_run"] == n_tasks
    assert again.evaluations["gold"]["resolved_instances"] == n_tasks
    assert again.rollouts["funnel"]["reused_from_earlier_run"] == episodes
    assert again.sft == result.sft  # the same trajectories: training is not redone
    assert again.verifier == result.verifier and again.tts == result.tts  # nor serving
