"""Attack: bad input that used to abort or corrupt a whole batch. A prediction holding a
lone surrogate is that instance's error (every other instance graded, the report
written); duplicate instance ids are refused before any work, listing them all; an --out
that is a file or cannot be written is refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import attack_support  # noqa: F401  (sibling test packages on the path)
import pytest
from repo_builders import calc_tasks, make_calc_repo
from typer.testing import CliRunner

from swelego_ray.cli.main import app
from swelego_ray.engine import EngineConfig, ItemFailure, ItemOutput, run_items, stateless
from swelego_ray.schema import Task, TaskFormatError, read_tasks, write_tasks
from swelego_ray.storage import Store

runner = CliRunner()
SURROGATE = "\\udcff"  # as JSON writes it: valid JSON, but no UTF-8 encoder takes it


@pytest.fixture(scope="module")
def calc(tmp_path_factory) -> tuple[Path, Path, list[Task], Path]:
    """(tasks file, repos dir, tasks, environment cache) of the two calc tasks."""
    root = tmp_path_factory.mktemp("bad-input")
    repos = root / "repos"
    repo, base = make_calc_repo(repos)
    tasks = calc_tasks(repo, base)
    return Path(write_tasks(tasks, root / "tasks.jsonl")), repos, tasks, root / "cache"


def _evaluate(calc, out: Path, *extra: str, cache: Path | None = None):
    tasks_file, repos, _tasks, shared_cache = calc
    cache = cache or shared_cache
    argv = ["evaluate", "--tasks", str(tasks_file), "--repos", str(repos), "--out", str(out)]
    argv += ["--in-process", "--no-progress", "--cache-root", str(cache)]
    argv += ["--test-timeout", "60", "--timeout", "300", *extra]
    return runner.invoke(app, argv)


def _predictions(path: Path, rows: list[dict], raw: dict[int, str] | None = None) -> Path:
    """Write rows as JSONL; `raw` replaces a row's line with literal JSON text."""
    lines = [json.dumps(r) for r in rows]
    for i, text in (raw or {}).items():
        lines[i] = text
    path.write_text("\n".join(lines) + "\n")
    return path


def _gold(task: Task, name: str = "m") -> dict:
    return {"instance_id": task.instance_id, "model_name_or_path": name, "model_patch": task.patch}


@pytest.mark.parametrize("field", ["model_patch", "model_name_or_path"])
def test_lone_surrogate_is_that_predictions_error(calc, tmp_path: Path, field):
    _, _, tasks, _ = calc
    bad = json.dumps(_gold(tasks[0])).replace(f'"{field}": "', f'"{field}": "{SURROGATE}', 1)
    preds = _predictions(tmp_path / "p.jsonl", [_gold(t) for t in tasks], raw={0: bad})
    out = tmp_path / "out"
    result = _evaluate(calc, out, "--predictions", str(preds))
    assert result.exit_code == 3, result.output  # an instance errored: incomplete
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_ids"] == ["acme__calc-2"]  # the other instance is graded
    assert report["error_ids"] == ["acme__calc-1"]
    assert report["reasons"]["acme__calc-1"] == "patch_apply_failed"
    assert f"{field}: lone surrogate U+DCFF at offset 0" in report["details"]["acme__calc-1"]
    assert "acme__calc-1" in (out / "report.md").read_text()


def test_an_item_whose_output_cannot_be_stored_fails_alone(tmp_path: Path):
    def work(n: int, ctx) -> ItemOutput:
        text = "\udcff" if n == 1 else "fine"  # no UTF-8 encoder takes a lone surrogate
        return ItemOutput(record={"n": n}, files={"log": text})

    run = run_items(
        [0, 1, 2],
        stateless(work),
        stage="t",
        item_id=str,
        key=lambda n: f"t/{n}.json",
        store=Store(str(tmp_path / "store")),
        config=EngineConfig(in_process=True, progress=False),
    )
    assert [r.ok for r in run.results] == [True, False, True]
    assert run.results[1].reason is ItemFailure.ITEM_ERROR
    assert "cannot store" in run.results[1].error
    assert not (tmp_path / "store" / "t" / "1.json").exists()  # never taken as done


def test_duplicate_task_ids_are_refused_before_work(calc, tmp_path: Path):
    _, repos, tasks, cache = calc
    dup = tmp_path / "tasks.jsonl"
    write_tasks([tasks[0], tasks[1], tasks[0], tasks[1]], dup)
    with pytest.raises(TaskFormatError, match=r"duplicate instance ids"):
        read_tasks(dup)
    for command, flag in (("evaluate", "--tasks"), ("validate", "--candidates")):
        out = tmp_path / f"out-{command}"
        argv = [command, flag, str(dup), "--repos", str(repos), "--out", str(out)]
        argv += ["--in-process", "--no-progress", "--cache-root", str(cache)]
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert "duplicate instance ids" in result.output
        assert "'acme__calc-1' (lines 1, 3)" in result.output
        assert "'acme__calc-2' (lines 2, 4)" in result.output
        assert not out.exists()


def test_duplicate_predictions_are_refused_before_work(calc, tmp_path: Path):
    _, _, tasks, _ = calc
    rows = [_gold(tasks[0]), _gold(tasks[1]), _gold(tasks[0], "m2"), _gold(tasks[1], "m2")]
    preds = _predictions(tmp_path / "p.jsonl", rows)
    out = tmp_path / "out"
    result = _evaluate(calc, out, "--predictions", str(preds))
    assert result.exit_code == 2, result.output
    assert "duplicate instance ids (one prediction per instance)" in result.output
    assert "'acme__calc-1' (lines 1, 3); 'acme__calc-2' (lines 2, 4)" in result.output
    assert not out.exists()


def test_task_with_a_lone_surrogate_is_refused_naming_the_line(calc, tmp_path: Path):
    tasks_file, *_ = calc
    lines = tasks_file.read_text().splitlines()
    lines[1] = lines[1].replace('"problem_statement": "', f'"problem_statement": "{SURROGATE}')
    bad = tmp_path / "tasks.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskFormatError, match=r"tasks.jsonl:2 \(instance_id='acme__calc-2'\)"):
        read_tasks(bad)


def _out_cases(tmp_path: Path) -> list[tuple[Path, str]]:
    existing = tmp_path / "report.json"
    existing.write_text("keep me\n")
    return [
        (existing, "is an existing file, not a directory"),
        (existing / "sub", "Not a directory"),
        (Path("/proc/swelego-out"), "cannot write the results to /proc/swelego-out"),
    ]


def test_unusable_out_is_refused_before_work(calc, tmp_path: Path):
    tasks_file, repos, *_ = calc
    cache = tmp_path / "cache"
    for out, message in _out_cases(tmp_path):
        result = _evaluate(calc, out, cache=cache)
        assert result.exit_code == 2, result.output
        assert message in result.output and "cannot write the results" in result.output
        argv = ["validate", "--candidates", str(tasks_file), "--repos", str(repos)]
        argv += ["--out", str(out), "--in-process", "--no-progress", "--cache-root", str(cache)]
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert (tmp_path / "report.json").read_text() == "keep me\n"
    assert not (cache / "envs").exists()  # no environment was built: no work was done
