"""`swelego evaluate` / `swelego validate`: bad flags rejected before work, a real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_builders import calc_tasks, make_calc_repo
from typer.testing import CliRunner

from swelego_ray.cli.main import app
from swelego_ray.schema import write_tasks

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
