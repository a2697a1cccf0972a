"""Fixtures for tests that run real local sandboxes on tiny repositories built here."""

from __future__ import annotations

import pytest
from repo_builders import commit_files


@pytest.fixture(scope="session")
def local_backend(sandbox_cache):
    from swelego_ray.envs import get_backend

    return get_backend("local", cache_root=sandbox_cache)


@pytest.fixture(scope="session")
def bare_env(local_backend, tmp_path_factory):
    """A one-commit repository with no packages (git-only tests), built once."""
    from swelego_ray.envs import Environment, EnvSpec

    repo = tmp_path_factory.mktemp("bare") / "repo"
    base = commit_files(repo, {"a.txt": "".join(f"line {i}\n" for i in range(1, 21))}, "base")
    env = Environment(
        repo="t/bare", commit=base, source=str(repo), spec=EnvSpec(packages=[], install=[])
    )
    local_backend.prepare(env)
    return env, base


@pytest.fixture
def bare_sandbox(local_backend, bare_env):
    """A fresh sandbox on `bare_env` (every test gets its own copy-on-write workspace)."""
    env, base = bare_env
    with local_backend.start(env) as sandbox:
        yield sandbox, base
