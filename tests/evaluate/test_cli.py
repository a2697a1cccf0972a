"""`swelego evaluate` / `swelego validate`: bad flags rejected before work, a real run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from repo_builders import calc_tasks, make_calc_repo
from typer.testing import CliRunner

from swelego_ray.cli.evaluate_cmd import evaluate_config, with_rebuild_failed
from swelego_ray.cli.main import app
from swelego_ray.envs.failures import EnvStepFailed, record_failure
from swelego_ray.harness import task_environment
from swelego_ray.schema import read_tasks, write_tasks

runner = CliRunner()


@pytest.fixture
def calc_files(tmp_path: Path) -> tuple[Path, Path]:
    repos = tmp_path / "repos"
    repo, base = make_calc_repo(repos)
    return write_tasks(calc_tasks(repo, base), tmp_path / "tasks.jsonl"), repos


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--in-process", "--workers", "3"], "--in-process runs one instance at a time"),
        (["--predictions", "missing.jsonl"], "not gold, empty, an existing file or s3:// URI"),
        (["--force", "--rerun-errors"], "force already reruns everything"),
        (["--timeout", "10", "--test-timeout", "60"], "must exceed the per-command timeout"),
        (["--instance-ids", "nope"], "instance ids not in"),
    ],
)
def test_bad_flags_fail_before_work(calc_files, tmp_path: Path, extra, message):
    tasks, repos = calc_files
    out = tmp_path / "out"
    argv = ["evaluate", "--tasks", str(tasks), "--repos", str(repos), "--out", str(out), *extra]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_validate_rejects_missing_candidates(tmp_path: Path):
    result = runner.invoke(
        app, ["validate", "--candidates", str(tmp_path / "x.jsonl"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "no such file" in result.output


def test_evaluate_runs_and_writes_the_report(calc_files, tmp_path: Path, sandbox_cache: Path):
    tasks, repos = calc_files
    out = tmp_path / "out"
    argv = [
        "evaluate",
        "--tasks",
        str(tasks),
        "--repos",
        str(repos),
        "--out",
        str(out),
        "--in-process",
        "--no-progress",
        "--cache-root",
        str(sandbox_cache),
        "--instance-ids",
        "acme__calc-1",
        "--test-timeout",
        "60",
        "--timeout",
        "300",
    ]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "resolved 1/1" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_ids"] == ["acme__calc-1"] and report["total_instances"] == 1


def test_validate_runs_and_writes_kept_tasks(calc_files, tmp_path: Path, sandbox_cache: Path):
    tasks, repos = calc_files
    out = tmp_path / "val"
    argv = [
        "validate",
        "--candidates",
        str(tasks),
        "--repos",
        str(repos),
        "--out",
        str(out),
        "--runs",
        "1",
        "--in-process",
        "--no-progress",
        "--cache-root",
        str(sandbox_cache),
        "--test-timeout",
        "60",
        "--timeout",
        "300",
    ]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "kept 2, dropped 0" in result.output
    kept = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert json.loads(kept[0]["FAIL_TO_PASS"]) == ["tests/test_add.py::test_add"]


def run_args(tasks: Path, repos: Path, out: Path, cache: Path) -> list[str]:
    return [
        "evaluate",
        "--tasks",
        str(tasks),
        "--repos",
        str(repos),
        "--out",
        str(out),
        "--in-process",
        "--no-progress",
        "--cache-root",
        str(cache),
        "--test-timeout",
        "60",
        "--timeout",
        "300",
    ]


def test_evaluate_exits_3_when_instances_errored_and_the_table_is_whole(
    calc_files, tmp_path: Path, sandbox_cache: Path
):
    tasks, repos = calc_files
    lost = [
        t.model_copy(
            update={"instance_id": f"acme__gone-with-a-long-name-{i}", "repo": "acme/gone"}
        )
        for i, t in enumerate(read_tasks(str(tasks)))
    ]
    lost_file = write_tasks(lost, tmp_path / "lost.jsonl")
    out = tmp_path / "out"
    argv = [*run_args(lost_file, repos, out, sandbox_cache), "--no-clone", "--run-id", "r7"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 3, result.output
    assert "INCOMPLETE" in result.output and "env_build_failed" in result.output
    # a pipe is not a terminal: each row on one line, nothing cut at 80 columns
    rows = [line for line in result.output.splitlines() if "acme__gone-with-a-long-name-0" in line]
    assert len(rows) == 1 and "env_build_failed" in rows[0] and len(rows[0]) > 80
    assert (out / "logs/run_evaluation/r7/gold/acme__gone-with-a-long-name-0").is_dir()
    assert f"logs: {out}/logs/run_evaluation/r7/" in result.output


def test_exclude_on_the_command_line(calc_files, tmp_path: Path, sandbox_cache: Path):
    tasks, repos = calc_files
    out = tmp_path / "out"
    argv = [*run_args(tasks, repos, out, sandbox_cache), "--exclude", "acme__calc-2"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["total_instances"] == 1 and report["resolved_ids"] == ["acme__calc-1"]
    assert report["submitted_ids"] == ["acme__calc-1", "acme__calc-2"]  # the whole file
    assert (out / "gold.out.json").is_file()  # <model>.<run_id>.json, run id = out's name


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "docker", "--backend-option", "images.wheelhous=true"], "wheelhous"),
        (["--backend-option", "nokey"], "expected KEY=VALUE"),
        (["--backend-option", "kind=docker"], "expected KEY=VALUE"),
        (["--exclude", "nope"], "excluded ids not in"),
        (["--run-id", "a/b"], "run id 'a/b'"),
        (["--repos", "missing-dir"], "mkdir it to clone"),
    ],
)
def test_bad_backend_options_and_ids_fail_before_work(calc_files, tmp_path, extra, message):
    tasks, repos = calc_files
    out = tmp_path / "out"
    argv = ["evaluate", "--tasks", str(tasks), "--repos", str(repos), "--out", str(out), *extra]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("error:") == 1
    assert not out.exists()


def test_config_file_then_flags_then_backend_options(tmp_path: Path):
    config = tmp_path / "eval.yaml"
    config.write_text(
        "tasks: t.jsonl\nout: runs/x\nworkers: 3\ntimeout_s: 900\n"
        "backend: {kind: docker, images: {base_image: 'local/python:{python}'}}\n"
    )
    fields = {"out": "runs/y", "timeout_s": None}
    options = {"backend.images.wheelhouse": True, "backend.images.host_interpreters": True}
    cfg = evaluate_config(str(config), fields, options)
    assert cfg.out == "runs/y" and cfg.workers == 3 and cfg.timeout_s == 900
    assert cfg.backend.kind == "docker"
    images = cfg.backend.images
    assert images.base_image == "local/python:{python}" and images.wheelhouse
    assert images.host_interpreters
    config.write_text("tasks: t.jsonl\nout: runs/x\nbackend: docker\n")
    cfg = evaluate_config(str(config), {"backend.cache_root": "/c"}, {})
    assert cfg.backend.kind == "docker" and str(cfg.backend.cache_root) == "/c"


def test_config_file_typo_is_one_error(calc_files, tmp_path: Path):
    tasks, _ = calc_files
    config = tmp_path / "eval.yaml"
    config.write_text("backend: {kind: docker, images: {wheelhous: true}}\nworkrs: 2\n")
    argv = ["evaluate", "--config", str(config), "--tasks", str(tasks), "--out", "o"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "wheelhous" in result.output and "workrs" in result.output
    assert str(config) in result.output and result.output.count("error:") == 1


def test_a_failed_build_is_refused_until_rebuild_failed_builds_it_once(calc_files, tmp_path: Path):
    """Both instances share one environment whose build failed before (recorded): a run,
    and a rerun of its errors, refuse it from the record without building;
    --rebuild-failed builds it once more (it fails again: its other instance is refused,
    retried already in this run)."""
    tasks, repos = calc_files
    spec = {"packages": [], "install": ["echo 'no compiler here' >&2; exit 3"]}
    failing = [
        t.model_copy(update={"env_spec": t.env_spec.model_copy(update=spec)})
        for t in read_tasks(str(tasks))
    ]
    tasks = write_tasks(failing, tmp_path / "failing.jsonl")
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = task_environment(failing[0], repos, cache)
    record_failure(cache, env, "local", EnvStepFailed("no compiler here", log="/l.log"))

    def run(*extra: str) -> dict[str, str]:
        result = runner.invoke(app, [*run_args(tasks, repos, out, cache), *extra])
        assert result.exit_code == 3, result.output
        assert "--rebuild-failed" in result.output
        report = json.loads((out / "report.json").read_text())
        assert set(report["reasons"].values()) == {"env_build_failed"}
        return report["details"]

    for extra in ([], ["--rerun-errors"]):
        details = run(*extra).values()
        assert all("is not retried" in d and "--rebuild-failed" in d for d in details)
    rebuilt = run("--rebuild-failed")
    refused = [d for d in rebuilt.values() if "retried already in this run" in d]
    built = [d for d in rebuilt.values() if d not in refused]
    assert len(refused) == 1 and len(built) == 1, rebuilt
    assert "step install[0] failed (exit 3)" in built[0] and "no compiler here" in built[0]


def test_rebuild_failed_reaches_each_backends_builder_option():
    """Each builder retries the failures recorded before the run started (so a run's
    workers retry an environment once between them)."""
    before = time.time()
    options = {"backend.images.base_image": "local/python:{python}"}
    fields = {"tasks": "t.jsonl", "out": "o", "backend.kind": "docker"}
    docker = with_rebuild_failed(evaluate_config(None, fields, options))
    fields = {"tasks": "t.jsonl", "out": "o", "force": True}
    local = with_rebuild_failed(evaluate_config(None, fields, {}))
    after = time.time()
    images = docker.backend_options["images"]
    assert before <= images.pop("retry_failed_before") <= after
    assert images == {"base_image": "local/python:{python}", "retry_failed_builds": True}
    assert docker.rerun_errors
    assert local.backend_options["retry_failed_builds"] and not local.rerun_errors
    assert before <= local.backend_options["retry_failed_before"] <= after
