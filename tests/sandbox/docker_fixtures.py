"""Environments for the docker backend tests, with deterministic commits so that their
images (keyed by repo@commit) are built once and reused by later sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from swelego_ray.envs import EnvBackend, Environment, EnvSpec, backends
from swelego_ray.envs.repos import _git  # fixed author, committer and dates

TINYPKG = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinypkg"\nversion = "0.1"\n'
    ),
    "src/tinypkg/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_add.py": (
        "from tinypkg import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_wrong():\n    assert add(1, 1) == 3\n"
    ),
}


def deterministic_repo(path: Path, commits: list[dict[str, str]]) -> list[str]:
    """A git repository with one commit per dict of files; same content, same shas."""
    path.mkdir(parents=True)
    _git("init", "-q", "--initial-branch", "main", cwd=path)
    shas = []
    for i, files in enumerate(commits):
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        _git("add", "-A", cwd=path)
        _git("commit", "-q", "-m", f"commit {i}", cwd=path)
        shas.append(_git("rev-parse", "HEAD", cwd=path))
    return shas


@pytest.fixture(scope="session")
def docker_backend(docker_engine) -> EnvBackend:
    return backends.docker_backend(docker_engine, kill_grace_s=1.0)


@pytest.fixture(scope="session")
def tiny_env(tmp_path_factory, docker_backend) -> Environment:
    """A small installable package with pytest in its venv (one pass, one failure)."""
    repo = tmp_path_factory.mktemp("docker-repos") / "tinypkg"
    (sha,) = deterministic_repo(repo, [TINYPKG])
    env = Environment(
        repo="test/tinypkg",
        commit=sha,
        source=str(repo),
        spec=EnvSpec(python="3.11", packages=["pytest"], env_vars={"TINY_VAR": "42"}),
    )
    docker_backend.prepare(env)
    return env


@pytest.fixture(scope="session")
def two_commit_env(tmp_path_factory, docker_backend) -> tuple[Environment, list[str]]:
    """A repository with two commits and no packages; the image is built at the second."""
    repo = tmp_path_factory.mktemp("docker-repos") / "plain"
    shas = deterministic_repo(
        repo,
        [
            {"README.md": "v1\n", "pkg/mod.py": "VALUE = 1\n"},
            {"README.md": "v2\n", "pkg/mod.py": "VALUE = 2\n"},
        ],
    )
    # a set-up step that edits a tracked file (like SWE-bench's sed pre_install steps)
    spec = EnvSpec(install=[], pre_install=["sed -i 's/v2/v2 (set-up edit)/' README.md"])
    env = Environment(repo="test/plain", commit=shas[1], source=str(repo), spec=spec)
    docker_backend.prepare(env)
    return env, shas
