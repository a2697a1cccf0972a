"""SWE-bench's conventions in `swelego evaluate`: run id and per-instance log layout, the
`<model>.<run_id>.json` run report, submitted ids from the whole predictions file,
--exclude, and repositories cloned into the mirrors directory from a URL template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_builders import calc_tasks, git, make_calc_repo

from swelego_ray.envs.repos import RepoSourceError, clone_mirror
from swelego_ray.evaluate import EvaluateConfig, model_dir, run_evaluation, run_report_name
from swelego_ray.sandbox import Limits
from swelego_ray.schema import write_tasks

BAD_PATCH = "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n"
MODEL = "org/model-x"


@pytest.fixture
def calc(tmp_path: Path, sandbox_cache: Path):
    repos = tmp_path / "repos"
    repo, base = make_calc_repo(repos)
    tasks = calc_tasks(repo, base)
    tasks_file = write_tasks(tasks, tmp_path / "tasks.jsonl")

    def config(**kw) -> EvaluateConfig:
        defaults = dict(
            tasks=str(tasks_file),
            repos_dir=str(repos),
            out=str(tmp_path / "out"),
            backend={"kind": "local", "cache_root": str(sandbox_cache)},
            cache_root=str(sandbox_cache),
            in_process=True,
            workers=1,
            progress=False,
            timeout_s=300,
            limits=Limits(timeout_s=60, memory_mb=2048),
        )
        return EvaluateConfig(**{**defaults, **kw})

    return tasks, config, repo


def predictions_file(tmp_path: Path, tasks) -> Path:
    """calc-1: its gold patch; calc-2: a patch that does not apply (an error)."""
    rows = [
        {
            "instance_id": tasks[0].instance_id,
            "model_name_or_path": MODEL,
            "model_patch": tasks[0].patch,
        },
        {
            "instance_id": tasks[1].instance_id,
            "model_name_or_path": MODEL,
            "model_patch": BAD_PATCH,
        },
    ]
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def swebench_run_report(out: Path, run_id: str, predictions: dict, dataset_ids: list[str]):
    """SWE-bench 4.1.0's make_run_report (swebench.harness.reporting), read over `out`'s
    logs: the counting rules transcribed (swebench cannot be imported here: --no-deps)."""
    ids = {
        k: set() for k in ("completed", "resolved", "unresolved", "error", "incomplete", "empty")
    }
    for iid in dataset_ids:
        if iid not in predictions:
            ids["incomplete"].add(iid)
            continue
        pred = predictions[iid]
        if pred.get("model_patch") in ("", None):
            ids["empty"].add(iid)
            continue
        model = pred["model_name_or_path"].replace("/", "__")
        report_file = out / "logs/run_evaluation" / run_id / model / iid / "report.json"
        if report_file.exists():
            ids["completed"].add(iid)
            resolved = json.loads(report_file.read_text())[iid]["resolved"]
            ids["resolved" if resolved else "unresolved"].add(iid)
        else:
            ids["error"].add(iid)
    return {
        "total_instances": len(dataset_ids),
        "submitted_instances": len(predictions),
        "completed_ids": sorted(ids["completed"]),
        "incomplete_ids": sorted(ids["incomplete"]),
        "empty_patch_ids": sorted(ids["empty"]),
        "submitted_ids": sorted(predictions),
        "resolved_ids": sorted(ids["resolved"]),
        "unresolved_ids": sorted(ids["unresolved"]),
        "error_ids": sorted(ids["error"]),
    }


def test_swebench_log_layout_run_report_and_whole_file_submitted(calc, tmp_path: Path):
    tasks, config, _ = calc
    preds = predictions_file(tmp_path, tasks)
    out = tmp_path / "out"
    report = run_evaluation(config(predictions=str(preds), run_id="r1"))
    assert report.resolved_ids == ["acme__calc-1"] and report.error_ids == ["acme__calc-2"]

    logs = out / "logs/run_evaluation/r1/org__model-x"
    ok, bad = logs / "acme__calc-1", logs / "acme__calc-2"
    assert {p.name for p in ok.iterdir()} == {
        "report.json",
        "patch.diff",
        "test_output.txt",
        "run_instance.log",
    }
    assert (ok / "patch.diff").read_text() == tasks[0].patch
    assert "test_add" in (ok / "test_output.txt").read_text()
    entry = json.loads((ok / "report.json").read_text())["acme__calc-1"]
    assert entry["patch_exists"] and entry["patch_successfully_applied"] and entry["resolved"]
    assert not entry["patch_is_None"]
    assert entry["tests_status"]["FAIL_TO_PASS"]["success"] == tasks[0].FAIL_TO_PASS
    assert set(entry["tests_status"]) == {
        "FAIL_TO_PASS",
        "PASS_TO_PASS",
        "FAIL_TO_FAIL",
        "PASS_TO_FAIL",
    }
    # an error has no report.json, as in SWE-bench; its log says why
    assert not (bad / "report.json").exists() and (bad / "patch.diff").read_text() == BAD_PATCH
    assert "patch_apply_failed" in (bad / "run_instance.log").read_text()

    ours = json.loads((out / "report.json").read_text())
    assert json.loads((out / "org__model-x.r1.json").read_text()) == ours
    rows = {r["instance_id"]: r for r in map(json.loads, preds.read_text().splitlines())}
    expected = swebench_run_report(out, "r1", rows, [t.instance_id for t in tasks])
    assert {k: ours[k] for k in expected} == expected

    # only calc-1 in scope, from the stored result (no rerun): SWE-bench still counts
    # every prediction of the file as submitted; the logs are laid out under the new id
    again = run_evaluation(
        config(predictions=str(preds), run_id="r2", instance_ids=["acme__calc-1"])
    )
    assert again.funnel["reused_from_earlier_run"] == 1
    assert again.total_instances == 1 and again.submitted_instances == 2
    assert again.submitted_ids == ["acme__calc-1", "acme__calc-2"]
    assert again.incomplete_ids == [] and again.resolved_ids == ["acme__calc-1"]
    r2 = out / "logs/run_evaluation/r2/org__model-x/acme__calc-1"
    assert (r2 / "test_output.txt").read_text() == (ok / "test_output.txt").read_text()
    expected = swebench_run_report(out, "r2", rows, ["acme__calc-1"])
    ours = json.loads((out / "org__model-x.r2.json").read_text())
    assert {k: ours[k] for k in expected} == expected


def test_default_run_id_is_the_out_name_and_gold_is_the_model(calc, tmp_path: Path):
    _, config, _ = calc
    cfg = config(out=str(tmp_path / "runs" / "gold run"), exclude_ids=["acme__calc-2"])
    assert cfg.effective_run_id == "gold_run"
    report = run_evaluation(cfg)
    assert report.total_instances == 1 and report.resolved_ids == ["acme__calc-1"]
    out = tmp_path / "runs" / "gold run"
    assert (out / "gold.gold_run.json").is_file()
    assert (out / "logs/run_evaluation/gold_run/gold/acme__calc-1/report.json").is_file()
    assert not (out / "logs/run_evaluation/gold_run/gold/acme__calc-2").exists()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"exclude_ids": ["nope"]}, "excluded ids not in"),
        ({"run_id": "../up"}, "run id '../up'"),
        ({"repo_url": "https://example.invalid/fixed.git"}, "names no {repo}"),
    ],
)
def test_bad_scope_or_run_id_refused_before_work(calc, tmp_path: Path, kw, message):
    _, config, _ = calc
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("(", r"\(")):
        run_evaluation(config(**kw))
    assert not (tmp_path / "out").exists()


def bare_remote(repo: Path, where: Path) -> Path:
    """A bare copy of `repo`, standing for the repository's public URL."""
    remote = where / "acme__calc.git"
    git(where, "clone", "--bare", "-q", str(repo), str(remote))
    return remote


def test_clone_mirror_from_a_url_template(calc, tmp_path: Path):
    _, _, repo = calc
    (tmp_path / "remote").mkdir()
    bare_remote(repo, tmp_path / "remote")
    template = f"file://{tmp_path}/remote/{{owner}}__{{name}}.git"
    mirrors = tmp_path / "mirrors"
    got = clone_mirror("acme/calc", mirrors, template)
    assert got == mirrors / "acme__calc.git"
    assert git(got, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert clone_mirror("acme/calc", mirrors, "file:///nowhere/{repo}") == got  # kept
    assert sorted(p.name for p in mirrors.iterdir() if not p.name.startswith(".")) == [
        "acme__calc.git"
    ]


def test_clone_failure_names_the_url_and_leaves_nothing(tmp_path: Path):
    mirrors = tmp_path / "mirrors"
    with pytest.raises(RepoSourceError) as err:
        clone_mirror("acme/calc", mirrors, f"file://{tmp_path}/offline/{{repo}}.git")
    text = str(err.value)
    assert f"file://{tmp_path}/offline/acme/calc.git" in text and "cannot clone" in text
    assert str(mirrors / "acme__calc.git") in text  # where to put a clone by hand
    assert [p for p in mirrors.iterdir() if not p.name.endswith(".lock")] == []
    with pytest.raises(RepoSourceError, match="not an owner/name"):
        clone_mirror("../etc", mirrors)


def test_evaluate_clones_a_missing_repository_into_repos(calc, tmp_path: Path):
    _, config, repo = calc
    (tmp_path / "remote").mkdir()
    bare_remote(repo, tmp_path / "remote")
    empty_repos = tmp_path / "fresh"
    empty_repos.mkdir()
    url = f"file://{tmp_path}/remote/{{owner}}__{{name}}.git"
    cfg = config(repos_dir=str(empty_repos), repo_url=url, instance_ids=["acme__calc-1"])
    report = run_evaluation(cfg)
    assert report.resolved_ids == ["acme__calc-1"], report.details
    assert (empty_repos / "acme__calc.git" / "HEAD").is_file()

    offline = tmp_path / "offline"
    offline.mkdir()
    cfg = config(
        repos_dir=str(offline),
        repo_url=f"file://{tmp_path}/unreachable/{{repo}}.git",
        out=str(tmp_path / "out-offline"),
    )
    report = run_evaluation(cfg)
    assert report.error_ids == ["acme__calc-1", "acme__calc-2"]
    assert report.reasons["acme__calc-1"] == "env_build_failed"
    assert "cannot clone" in report.details["acme__calc-1"]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("org/model-x", "org__model-x"),
        ("", "None"),
        ("..", "__"),
        ("a\x00b\nc", "a_b_c"),
        ("bad\ud800", "bad?"),
    ],
)
def test_model_directory_names(model: str, expected: str):
    assert model_dir(model) == expected
    assert run_report_name(model, "r1") == f"{expected}.r1.json"


def test_a_source_column_of_a_derived_dataset_is_not_a_repository_path(calc, tmp_path: Path):
    """Datasets derived from SWE-bench carry `source` as their own origin ("swe-bench-lite"):
    it lands in meta like any unknown column and the repository still comes from --repos."""
    from swelego_ray.harness import task_environment
    from swelego_ray.schema import read_tasks

    tasks, _, repo = calc
    derived = tmp_path / "derived.jsonl"
    rows = [t.model_dump(mode="json") | {"source": "swe-bench-lite"} for t in tasks]
    derived.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = read_tasks(derived)[0]
    assert task.meta["source"] == "swe-bench-lite"
    assert task_environment(task, repo.parent).source == str(repo.resolve())
