"""Versions come from the checkout's own tags (those up to the commit), as in a clone:
setuptools_scm and versioneer compute them at build time. No pretend version is set: a
SETUPTOOLS_SCM_PRETEND_VERSION in the environment also named every dependency built
with setuptools_scm (SWE-bench pytest 5.4: iniconfig 1.0.0's metadata said 5.4.0.post522,
so uv took iniconfig 0.1 and six of pytest's own tests failed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from swelego_ray.envs.repos import cached_checkout
from swelego_ray.envs.specs import environment_for
from swelego_ray.schema import Task


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def _commit(repo: Path, n: int) -> str:
    (repo / "f.txt").write_text(str(n))
    _git(repo, "add", "f.txt")
    _git(repo, "commit", "-qm", f"c{n}")
    return _git(repo, "rev-parse", "HEAD")


def test_the_checkout_describes_as_the_source_and_no_version_is_pretended(tmp_path: Path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    _commit(repo, 0)
    _git(repo, "tag", "v1.2.0")
    after = [_commit(repo, n) for n in range(1, 4)]
    _git(repo, "tag", "v1.3.0")  # on the last commit: not on the history of after[0]
    task = Task(
        instance_id="o__r-1",
        repo="o/r",
        base_commit=after[0],
        env_spec={"python": "3.11", "env_vars": {"A": "1"}},
    )
    env = environment_for(task, str(repo), tmp_path / "cache")
    assert env.spec.env_vars == {"A": "1"}
    checkout = cached_checkout("o/r", str(repo), after[0], tmp_path / "cache")
    described = _git(checkout, "describe", "--tags", "--long")
    assert described == _git(repo, "describe", "--tags", "--long", after[0])
    assert described.startswith("v1.2.0-1-g")
