"""A small built local environment and one sandbox with a shell session, per module."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swelego_ray.envs import Environment, EnvSpec, backends
from swelego_ray.sandbox import Limits

FILES = {
    "pkg/mod.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "pkg/__init__.py": "",
    "README.md": "tiny\n",
}


def _repo(path: Path) -> str:
    path.mkdir(parents=True)
    for rel, text in FILES.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "PATH": "/usr/bin:/bin"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def agent_sandbox(tmp_path_factory):
    repo = tmp_path_factory.mktemp("agent-repos") / "tiny"
    env = Environment(repo="t/tiny", commit=_repo(repo), source=str(repo), spec=EnvSpec(install=[]))
    backend = backends.local_backend(cache_root=tmp_path_factory.mktemp("agent-cache"))
    backend.prepare(env)
    with backend.start(env, Limits(timeout_s=10, output_bytes=20_000)) as sandbox:
        yield sandbox


@pytest.fixture
def session(agent_sandbox):
    with agent_sandbox.session(idle_s=1.0) as shell:
        yield shell
