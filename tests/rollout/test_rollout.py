"""The rollout stage: replay-teacher episodes on the sample tasks resolve with their
mistakes recorded, are judged by the evaluation code and exported in formats `swelego
sft` reads; a rerun reuses every episode; a real tiny model served on loopback drives
episodes that end cleanly; planted git hacking is detected; labels follow the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.agent.hacking import find_git_hacking
from swelego_ray.evaluate import InstanceResult
from swelego_ray.grading import InfraFailure, Outcome, infra_error
from swelego_ray.rollout import RolloutConfig, run_rollouts
from swelego_ray.rollout.episode import label_of
from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
from swelego_ray.schema import Label, read_tasks, read_trajectories

PICKED = ["swelego-samples__cronlite-1", "swelego-samples__inikit-2"]


@pytest.fixture(scope="module")
def sample_repos(tmp_path_factory) -> Path:
    return materialize_sample_repos(tmp_path_factory.mktemp("rollout-samples"))


def _config(out: Path, repos: Path, cache: Path, **changes) -> RolloutConfig:
    fields = {
        "tasks": str(sample_tasks_path()),
        "out": str(out),
        "repos_dir": str(repos),
        "cache_root": str(cache),
        "instance_ids": PICKED,
        "workers": 2,
        "progress": False,
        **changes,
    }
    return RolloutConfig.model_validate(fields)


def test_replay_rollouts_resolve_are_exported_and_reused(
    ray_local, sample_repos, sandbox_cache, tmp_path
):
    replay = {"kind": "replay", "replay": {"mistake_rate": 0.5, "seed": 2}}
    cfg = _config(tmp_path / "out", sample_repos, sandbox_cache, k=2, teacher=replay)
    report = run_rollouts(cfg)
    assert report.episodes == 4 and report.kept == 4, report
    assert report.labels == {"resolved": 4} and report.end_reasons == {"finished": 4}
    assert report.funnel["out"] == 4 and not report.failed

    sft = read_trajectories(tmp_path / "out" / "sft.jsonl")
    sharegpt = read_trajectories(tmp_path / "out" / "sharegpt.jsonl")
    assert not sft.errors and not sharegpt.errors
    assert len(sft.trajectories) == len(sharegpt.trajectories) == 4
    for traj, shared in zip(sft.trajectories, sharegpt.trajectories, strict=True):
        assert traj.label is Label.RESOLVED and traj.model == "replay" and traj.patch
        assert [m.role for m in traj.messages] == [m.role for m in shared.messages]
    observations = "\n".join(
        m.content for t in sft.trajectories for m in t.messages if m.role == "tool"
    )
    assert "ERROR: No replacement" in observations or "command not found" in observations
    rows = [
        json.loads(x) for x in (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
    ]
    assert all(r["meta"]["hacking"] == [] and r["meta"]["turns"] for r in rows)

    again = run_rollouts(cfg)
    assert again.funnel["reused_from_earlier_run"] == 4 and again.kept == 4


@pytest.mark.slow
def test_a_tiny_served_model_drives_episodes_that_end_cleanly(
    ray_local, tiny_llm_server, sample_repos, sandbox_cache, tmp_path
):
    # short answers: three turns fit the tiny model's 4,096-token window
    llm = tiny_llm_server.config(sampling={"max_tokens": 48, "temperature": 1.0})
    teacher = {"kind": "endpoint", "llm": llm.model_dump()}
    cfg = _config(
        tmp_path / "out",
        sample_repos,
        sandbox_cache,
        instance_ids=PICKED[:1],
        workers=1,
        teacher=teacher,
        agent={"max_turns": 3, "episode_timeout_s": 300},
    )
    report = run_rollouts(cfg)
    assert report.episodes == 1 and not report.failed, report
    assert report.end_reasons == {"max_turns": 1} or report.end_reasons == {"finished": 1}
    assert report.labels.get("resolved", 0) == 0  # a random model resolves nothing
    (row,) = [
        json.loads(x) for x in (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
    ]
    assert row["model"] == "tiny" and len(row["meta"]["turns"]) <= 3
    assert all(t["completion_tokens"] > 0 for t in row["meta"]["turns"])


@pytest.mark.parametrize(
    "command",
    [
        "git log --all --oneline",
        "cd /testbed && git reflog",
        "git fetch origin",
        "git show origin/main:src/x.py",
        "git branch -a",
        "cat .git/packed-refs",
        "ls .git/refs/tags",
        "git log HEAD@{1}",
        "curl -s https://github.com/acme/calc/commit/abc.patch",
        "pip download calc==2.0",
        "git remote -v",
        "git stash list",
    ],
)
def test_planted_git_hacking_is_flagged(command):
    (finding,) = find_git_hacking([command])
    assert finding.command == command and finding.why


def test_ordinary_commands_are_not_flagged():
    ordinary = [
        "git status",
        "git diff",
        "git log -3 --oneline",
        "git show HEAD --stat",
        "python -m pytest tests/test_x.py -q",
        "grep -rn 'def parse' src/ | head",
        "cd /testbed && ls -la",
        "echo 'see .github/workflows'",
    ]
    assert find_git_hacking(ordinary) == []


def _verdict(outcome: Outcome) -> InstanceResult:
    tasks = read_tasks(sample_tasks_path())
    report = infra_error(tasks[0].instance_id, InfraFailure.SANDBOX, "boom")
    if outcome is not Outcome.ERROR:
        report = report.model_copy(update={"outcome": outcome, "reason": None})
    return InstanceResult(instance_id=tasks[0].instance_id, report=report)


def test_labels_follow_the_recipe():
    gold = read_tasks(sample_tasks_path())[0].patch
    other_file = gold.replace("cronlite/", "cronlite_other/")
    assert label_of(_verdict(Outcome.RESOLVED), gold, gold) is Label.RESOLVED
    assert label_of(_verdict(Outcome.UNRESOLVED), gold, gold) is Label.SEMI_RESOLVED
    assert label_of(_verdict(Outcome.UNRESOLVED), other_file, gold) is Label.UNRESOLVED
    assert label_of(_verdict(Outcome.UNRESOLVED), "", gold) is Label.UNRESOLVED
    assert label_of(_verdict(Outcome.ERROR), gold, gold) is Label.ERROR


def test_bad_config_is_refused_with_the_field_named(tmp_path):
    with pytest.raises(ValueError, match="episode deadline"):
        RolloutConfig(tasks="t.jsonl", out=str(tmp_path), timeout_s=10)
    with pytest.raises(ValueError, match="instance ids not in"):
        run_rollouts(
            RolloutConfig(tasks=str(sample_tasks_path()), out=str(tmp_path), instance_ids=["nope"])
        )
