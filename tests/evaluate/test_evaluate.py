"""run_evaluation end to end on a tiny repository: gold resolves, empty does not, results
are reused only for identical inputs, and a spoofing patch does not pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_builders import calc_tasks, make_calc_repo

from swelego_ray.evaluate import EvaluateConfig, run_evaluation
from swelego_ray.sandbox import Limits
from swelego_ray.schema import write_tasks
from swelego_ray.storage import Store

SPOOF_CONFTEST = (
    "diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n"
    "+++ b/conftest.py\n@@ -0,0 +1,3 @@\n+def pytest_unconfigure(config):\n"
    "+    print('PASSED tests/test_add.py::test_add')\n"
    "+    print('>>>>> SWELEGO TESTS END 0 exit=0')\n"
)


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

    return tasks, config


def test_gold_resolves_and_empty_does_not(calc, tmp_path: Path):
    tasks, config = calc
    gold = run_evaluation(config(predictions="gold"))
    assert gold.resolved_ids == ["acme__calc-1", "acme__calc-2"], gold.details
    assert gold.error_instances == 0 and gold.resolve_rate == 1.0

    report = json.loads((tmp_path / "out/report.json").read_text())
    for field in (
        "total_instances",
        "submitted_instances",
        "completed_instances",
        "resolved_instances",
        "unresolved_instances",
        "empty_patch_instances",
        "error_instances",
        "resolved_ids",
        "unresolved_ids",
        "error_ids",
        "empty_patch_ids",
        "schema_version",
        "reasons",
    ):
        assert field in report
    assert "results" not in report
    assert "| acme__calc-1 | resolved |" in (tmp_path / "out/report.md").read_text()
    # per-instance logs beside each result
    store = Store(str(tmp_path / "out"))
    keys = sorted(store.list("evaluate/acme__calc-1"))
    assert [k.rsplit(".", 2)[-2:] for k in keys if not k.endswith(".json")] == [
        ["apply", "log"],
        ["patch", "diff"],
        ["test_output", "txt"],
    ]
    output = next(k for k in keys if k.endswith("test_output.txt"))
    assert "PASSED tests/test_add.py::test_add" in store.read_bytes(output).decode()

    empty = run_evaluation(config(predictions="empty", out=str(tmp_path / "out-empty")))
    assert empty.resolved_ids == [] and empty.unresolved_instances == 0
    assert empty.empty_patch_ids == ["acme__calc-1", "acme__calc-2"]
    assert empty.completed_ids == [] and empty.error_ids == []  # as SWE-bench counts them
    assert set(empty.reasons.values()) == {"tests_failed"}  # still run: why they fail
    r2 = next(r for r in empty.results if r.instance_id == "acme__calc-2")
    assert r2.report.FAIL_TO_PASS.failure == tasks[1].FAIL_TO_PASS
    assert r2.report.PASS_TO_PASS.success == ["tests/test_calc.py::test_neg"]


def test_reruns_reuse_results_but_never_for_a_changed_patch(calc, tmp_path: Path):
    tasks, config = calc
    # a predictions file may hold instances outside --instance-ids: they are not run, but
    # count as submitted (SWE-bench's submitted_ids list the whole predictions file)
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text(
        "".join(
            json.dumps({"instance_id": t.instance_id, "model_patch": t.patch}) + "\n" for t in tasks
        )
    )
    cfg = config(predictions=str(gold_file), instance_ids=["acme__calc-1"])
    first = run_evaluation(cfg)
    assert first.resolved_ids == ["acme__calc-1"] and first.funnel["reused_from_earlier_run"] == 0
    assert first.submitted_ids == ["acme__calc-1", "acme__calc-2"]
    assert first.total_instances == 1 and first.incomplete_ids == []
    again = run_evaluation(cfg)
    assert again.resolved_ids == ["acme__calc-1"] and again.funnel["reused_from_earlier_run"] == 1

    preds = tmp_path / "preds.jsonl"
    rows = [
        {"instance_id": "acme__calc-1", "model_name_or_path": "m", "model_patch": SPOOF_CONFTEST},
        {"instance_id": "acme__calc-2", "model_name_or_path": "m", "model_patch": "not a diff\n"},
    ]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    changed = run_evaluation(config(predictions=str(preds)))
    assert changed.funnel["reused_from_earlier_run"] == 0
    # the spoofing conftest prints PASSED lines for tests that fail: not resolved
    assert changed.unresolved_ids == ["acme__calc-1"]
    assert changed.results[0].report.FAIL_TO_PASS.failure == ["tests/test_add.py::test_add"]
    # a patch that does not apply is an error with its reason, not a silent drop
    assert changed.error_ids == ["acme__calc-2"]
    assert changed.reasons["acme__calc-2"] == "patch_apply_failed"


def test_bad_inputs_fail_before_any_work(calc, tmp_path: Path):
    _, config = calc
    with pytest.raises(ValueError, match="force already reruns"):
        config(force=True, rerun_errors=True)
    with pytest.raises(ValueError, match="must exceed the per-command timeout"):
        config(timeout_s=30)
    with pytest.raises(ValueError, match="not in"):
        run_evaluation(config(instance_ids=["nope"]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instance_id": "other", "model_patch": ""}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: instance_id 'other' is not in"):
        run_evaluation(config(predictions=str(bad)))
    assert not (tmp_path / "out").exists()


def test_results_and_report_on_s3_resume_there(calc, s3_server, tmp_path: Path):
    tasks, config = calc
    tasks_uri = s3_server.uri("in/tasks.jsonl")  # tasks read from S3 too, as a cluster job does
    write_tasks(tasks, tasks_uri)
    out = s3_server.uri("runs/eval")
    cfg = config(tasks=tasks_uri, out=out, predictions="gold", instance_ids=["acme__calc-1"])
    assert run_evaluation(cfg).resolved_ids == ["acme__calc-1"]
    store = Store(out)
    assert store.read_json("report.json")["resolved_ids"] == ["acme__calc-1"]
    assert any(k.endswith("test_output.txt") for k in store.list("evaluate/acme__calc-1"))
    assert run_evaluation(cfg).funnel["reused_from_earlier_run"] == 1


def test_missing_repository_is_an_error_with_reason(calc, tmp_path: Path):
    tasks, config = calc
    lost = tasks[0].model_copy(update={"instance_id": "acme__gone-1", "repo": "acme/gone"})
    tasks_file = write_tasks([lost], tmp_path / "lost.jsonl")
    cfg = config(tasks=str(tasks_file), out=str(tmp_path / "out-lost"), clone_repos=False)
    report = run_evaluation(cfg)
    assert report.error_ids == ["acme__gone-1"] and report.total_instances == 1
    assert report.reasons["acme__gone-1"] == "env_build_failed"
    assert "no repository source found" in report.details["acme__gone-1"]
