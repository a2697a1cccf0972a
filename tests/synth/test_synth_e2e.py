"""swelego synth end to end on a tiny repository: AST candidates validated in sandboxes,
tasks written with statements and a funnel, the same set on a rerun (reused), gold
patches resolve every task, empty patches none."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from synth_repos import SPEC

from swelego_ray.evaluate import EvaluateConfig, run_evaluation
from swelego_ray.sandbox import Limits
from swelego_ray.schema import read_tasks
from swelego_ray.synth import STAGES, RepoInput, SynthConfig, run_synthesis


def _run_settings(cache: Path) -> dict:
    return dict(
        in_process=True,
        workers=1,
        progress=False,
        cache_root=str(cache),
        backend={"kind": "local", "cache_root": str(cache)},
        limits=Limits(timeout_s=60, memory_mb=2048),
        timeout_s=300,
    )


@pytest.mark.slow
def test_synth_ast_end_to_end(stats_repo: Path, synth_cache: Path, tmp_path: Path):
    cfg = SynthConfig(
        repos=[RepoInput(path=str(stats_repo), env_spec=SPEC)],
        out=str(tmp_path / "synth"),
        strategies=["ast"],
        seed=3,
        candidates_per_repo=6,
        max_per_repo=4,
        runs=2,
        **_run_settings(synth_cache),
    )
    report = run_synthesis(cfg)
    out = tmp_path / "synth"
    tasks = read_tasks(out / "tasks.jsonl")
    assert 1 <= len(tasks) <= 4 and [t.instance_id for t in tasks] == [
        t.instance_id for t in report.tasks
    ]
    assert [t.instance_id for t in read_tasks(out / "tasks.parquet")] == [
        t.instance_id for t in tasks
    ]
    for task in tasks:
        assert task.FAIL_TO_PASS and task.PASS_TO_PASS and task.bug_patch
        assert task.meta["synth"]["strategy"] == "ast" and task.meta["synth"]["features"]
        assert "Failing tests:" in task.problem_statement
        assert task.FAIL_TO_PASS[0] in task.problem_statement
    funnel = json.loads((out / "funnel.json").read_text())
    total = funnel["total"]
    assert all(total[s] >= total[n] for s, n in itertools.pairwise(STAGES))
    assert total["compiles"] == 6 and total["written"] == len(tasks)
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert len(dropped) == 6 - len(tasks)  # every validated candidate not written, with why
    # one clean-suite baseline, then 2 runs per candidate; a candidate whose first run leaves
    # no test that could be FAIL_TO_PASS stops there
    early = [d for d in dropped if d["reason"] == "no_fail_to_pass"]
    assert early and report.full_suite_runs == (6 + 1) * 2 - len(early)

    again = run_synthesis(cfg)
    assert [t.instance_id for t in again.tasks] == [t.instance_id for t in tasks]
    assert again.stages["reused_from_earlier_run"] == 6 and again.full_suite_runs == 0

    def evaluate(predictions: str) -> list[str]:
        report = run_evaluation(
            EvaluateConfig(
                tasks=str(out / "tasks.jsonl"),
                predictions=predictions,
                out=str(tmp_path / f"eval-{predictions}"),
                **_run_settings(synth_cache),
            )
        )
        return report.resolved_ids

    assert evaluate("gold") == sorted(t.instance_id for t in tasks)
    assert evaluate("empty") == []
