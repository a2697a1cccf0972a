"""A local backend and small environments built once per session (real bubblewrap)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swelego_ray.envs import EnvBackend, Environment, EnvSpec, backends

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
    "PATH": "/usr/bin:/bin",
}


def git_repo(path: Path, commits: list[dict[str, str]]) -> list[str]:
    """Create a git repository at `path` with one commit per dict of files; return shas."""
    path.mkdir(parents=True)
    run = lambda *a: subprocess.run(  # noqa: E731
        ["git", "-c", "init.defaultBranch=main", *a],
        cwd=path,
        env=_GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    run("init", "-q")
    shas = []
    for files in commits:
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        run("add", "-A")
        run("commit", "-q", "-m", "c")
        shas.append(run("rev-parse", "HEAD"))
    return shas


@pytest.fixture(scope="session")
def sandbox_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("swelego-cache")


@pytest.fixture(scope="session")
def local_backend(sandbox_cache) -> EnvBackend:
    return backends.local_backend(cache_root=sandbox_cache)


@pytest.fixture(scope="session")
def plain_env(tmp_path_factory, local_backend) -> Environment:
    """A repository with two commits and an environment without packages (builds in <1 s)."""
    repo = tmp_path_factory.mktemp("repos") / "plain"
    shas = git_repo(
        repo,
        [
            {"README.md": "v1\n", "pkg/mod.py": "VALUE = 1\n"},
            {"README.md": "v2\n", "pkg/mod.py": "VALUE = 2\n", "data.bin": "x"},
        ],
    )
    env = Environment(
        repo="test/plain",
        commit=shas[1],
        source=str(repo),
        spec=EnvSpec(python="3.11", install=[], env_vars={"SWELEGO_TEST_VAR": "42"}),
    )
    local_backend.prepare(env)
    return env


@pytest.fixture
def sandbox(local_backend, plain_env):
    with local_backend.start(plain_env) as sb:
        yield sb


@pytest.fixture(scope="session")
def make_repo():
    """git_repo(path, commits) as a fixture, for test modules."""
    return git_repo
