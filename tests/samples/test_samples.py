"""The sample packages, their deterministic git repos, and the sample tasks built on them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from swelego_ray import samples
from swelego_ray.envs import EnvSpec
from swelego_ray.schema import Provenance, read_tasks

ROOT = Path(__file__).resolve().parents[2]
MIN_SOURCE_LINES = 300
MIN_TESTS = 40


def _git(repo: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> Path:
    return samples.materialize_sample_repos(tmp_path_factory.mktemp("sample-repos"))


@pytest.fixture(scope="module")
def tasks():
    return read_tasks(samples.sample_tasks_path())


def _package(task) -> str:
    return task.repo.split("/", 1)[1]


def test_every_sample_has_tasks(tasks):
    names = samples.sample_names()
    assert len(names) >= 3
    per_package = {name: [t for t in tasks if _package(t) == name] for name in names}
    assert all(len(found) >= 3 for found in per_package.values()), per_package
    assert {t.repo for t in tasks} == {samples.sample_repo(n) for n in names}


def test_materialized_head_is_every_task_base_commit(repos, tasks):
    for task in tasks:
        repo = samples.sample_repo_dir(repos, _package(task))
        head = _git(repo, "rev-parse", "HEAD").stdout.strip()
        assert head == task.base_commit == samples.expected_head(_package(task)), task.instance_id
        assert task.environment_setup_commit == task.base_commit


def test_repo_history_is_fixed(repos):
    repo = samples.sample_repo_dir(repos, "inikit")
    log = _git(repo, "log", "--format=%an|%ae|%aI|%cI|%s").stdout.splitlines()
    assert log == [
        "swelego samples|samples@swelego.invalid|2024-02-01T09:00:00+00:00|"
        "2024-02-01T09:00:00+00:00|Add test suite and README",
        "swelego samples|samples@swelego.invalid|2024-01-15T09:00:00+00:00|"
        "2024-01-15T09:00:00+00:00|Initial import of the library",
    ]
    assert _git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    assert _git(repo, "status", "--porcelain").stdout == ""
    assert "tests/test_parser.py" not in _git(repo, "ls-tree", "-r", "HEAD~1").stdout
    assert list((repo / ".git" / "hooks").glob("*")) == []


def test_materialize_reuses_a_correct_repo_and_rebuilds_a_wrong_one(tmp_path):
    samples.materialize_sample_repos(tmp_path)
    repo = samples.sample_repo_dir(tmp_path, "cronlite")
    marker = repo / ".git" / "kept"
    marker.write_text("reused")
    samples.materialize_sample_repos(tmp_path)
    assert marker.exists(), "a correct repo must be reused, not rebuilt"

    (repo / "cronlite" / "fields.py").write_text("# damaged\n")
    _git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qam", "damage")
    samples.materialize_sample_repos(tmp_path)
    assert not marker.exists(), "a repo at the wrong commit must be rebuilt"
    assert _git(repo, "rev-parse", "HEAD").stdout.strip() == samples.expected_head("cronlite")
    assert "damaged" not in (repo / "cronlite" / "fields.py").read_text()


def test_missing_examples_dir_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(samples, "__file__", str(tmp_path / "swelego_ray" / "samples.py"))
    with pytest.raises(FileNotFoundError, match="sample packages not found"):
        samples.materialize_sample_repos(tmp_path / "out")


@pytest.mark.parametrize("name", ["cronlite", "inikit", "ledgerly"])
def test_package_size(repos, name):
    repo = samples.sample_repo_dir(repos, name)
    sources = [p for p in repo.rglob("*.py") if "tests" not in p.relative_to(repo).parts]
    lines = sum(len(p.read_text().splitlines()) for p in sources)
    assert lines >= MIN_SOURCE_LINES, f"{name}: {lines} source lines"
    functions = [
        node.name
        for path in (repo / "tests").glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    assert len(functions) >= MIN_TESTS, f"{name}: {len(functions)} test functions"
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ids = [line for line in collected.splitlines() if "::" in line]
    assert len(ids) >= MIN_TESTS, f"{name}: {len(ids)} tests collected"
    assert not any(" " in test_id for test_id in ids), "ids with spaces get cut by log parsers"


def test_patches_apply_cleanly_to_the_base(repos, tasks):
    for task in tasks:
        repo = samples.sample_repo_dir(repos, _package(task))
        for what, diff in (("patch", task.patch), ("test_patch", task.test_patch)):
            check = _git(repo, "apply", "--check", "-", stdin=diff)
            assert check.returncode == 0, f"{task.instance_id} {what}: {check.stderr}"


def _files(diff: str) -> list[str]:
    return [line.split(" b/", 1)[1] for line in diff.splitlines() if line.startswith("diff --git")]


def test_task_records(tasks):
    assert len({t.instance_id for t in tasks}) == len(tasks)
    for task in tasks:
        where = task.instance_id
        assert task.FAIL_TO_PASS, f"{where}: empty FAIL_TO_PASS"
        assert task.PASS_TO_PASS, f"{where}: empty PASS_TO_PASS"
        assert not set(task.FAIL_TO_PASS) & set(task.PASS_TO_PASS), where
        assert all(not f.startswith("tests/") for f in _files(task.patch)), where
        assert all(f.startswith("tests/") for f in _files(task.test_patch)), where
        assert task.version == "0.1"
        assert task.provenance is Provenance.REAL
        assert 0 < task.difficulty < 1
        assert task.created_at > "2024-02-01"
        EnvSpec.model_validate(task.env_spec)
        assert task.env_spec is not None and task.env_spec.python == "3.11"


def test_problem_statements_do_not_reveal_the_fix(tasks):
    for task in tasks:
        assert len(task.problem_statement) > 200, task.instance_id
        added = [
            line[1:].strip()
            for line in task.patch.splitlines()
            if line.startswith("+") and not line.startswith("+++")
        ]
        leaked = [line for line in added if len(line) > 12 and line in task.problem_statement]
        assert not leaked, f"{task.instance_id} quotes the gold patch: {leaked}"


def test_sample_predictions(tasks, repos):
    by_id = {t.instance_id: t for t in tasks}
    rows = [json.loads(line) for line in samples.sample_predictions_path().read_text().splitlines()]
    assert all(set(r) == {"instance_id", "model_name_or_path", "model_patch"} for r in rows)
    kinds = {"gold": 0, "wrong": 0, "empty": 0}
    for row in rows:
        task = by_id[row["instance_id"]]
        patch = row["model_patch"]
        kind = "empty" if not patch else "gold" if patch == task.patch else "wrong"
        kinds[kind] += 1
        if patch:
            repo = samples.sample_repo_dir(repos, _package(task))
            assert _git(repo, "apply", "--check", "-", stdin=patch).returncode == 0
    assert kinds["gold"] >= 2 and kinds["wrong"] >= 2 and kinds["empty"] == 1, kinds


@pytest.mark.slow
def test_generator_reproduces_the_committed_files():
    """Re-running the generator (which runs every suite twice per task) changes nothing."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_sample_tasks.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_tree_hash_matches_git_for_tricky_names(tmp_path):
    """git orders a directory as if its name ended in '/': a-b < a.py < a/ < a0."""
    files = {"a-b": b"1\n", "a.py": b"2\n", "a/b.py": b"3\n", "a0": b"4\n", "z/y/x": b""}
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    ours = samples._tree({p: samples._git_object("blob", d) for p, d in files.items()}).hex()
    assert ours == _git(tmp_path, "write-tree").stdout.strip()
