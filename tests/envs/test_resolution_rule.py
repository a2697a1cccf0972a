"""The resolution rule (envs/resolution.py): historical tasks (with created_at) resolve
against the index as it was (uv --exclude-newer at the environment commit's date plus a
day), the cutoff is part of the environment's key, and tasks without created_at resolve
as before. The rule is pinned on the build plan and the spec digest here; test_resolution_uv
runs it through uv against a local index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swelego_ray.envs import EnvBuildError, Environment, EnvSpec, environment_for
from swelego_ray.envs._swebench_specs import swebench_spec
from swelego_ray.envs.builder import EnvBuilder
from swelego_ray.envs.images import _step_requirements
from swelego_ray.envs.resolution import (
    cutoff_for,
    exact_pins,
    pip_install_args,
    uv_resolution_args,
    yanked_pins,
)
from swelego_ray.schema import Task
from swelego_ray.storage import content_hash

# What uv 0.13 printed for requirements_dev.txt of sqlfluff 0.8 (every version yanked).
UV_YANKED_ERROR = """\
  x No solution found when resolving dependencies:
  `-> Because types-pkg-resources<=0.1.2 was yanked (reason: Use types-setuptools instead)
      and only the following versions of types-pkg-resources are available:
          types-pkg-resources<=0.1.2
          types-pkg-resources==0.1.3
      we can conclude that all of:
          types-pkg-resources<0.1.3
          types-pkg-resources>0.1.3
       cannot be used.
      And because types-pkg-resources==0.1.3 was yanked (reason: Use types-setuptools
      instead) and you require types-pkg-resources, we can conclude that your requirements
      are unsatisfiable.
"""


def git_repo(path: Path, date: str) -> str:
    """A one-commit repository committed at `date`; returns the commit."""
    path.mkdir()
    (path / "README").write_text("x\n")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@localhost",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@localhost",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q"], ["add", "README"], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()


def task(commit: str, **fields) -> Task:
    return Task(
        instance_id="o__r-1",
        repo="o/r",
        base_commit=commit,
        env_spec={"python": "3.9", "packages": ["pytest"]},
        **fields,
    )


def test_cutoff_is_the_environment_commits_date_plus_a_day():
    assert cutoff_for("2022-01-21T00:03:48Z", "2022-01-30T16:34:00+01:00") == "2022-01-31T15:34:00Z"
    assert cutoff_for("2022-01-21T00:03:48Z", "2021-12-01T00:00:00Z") == "2021-12-02T00:00:00Z"
    # a commit without a date of its own (a plain directory's snapshot): created_at stands in
    assert cutoff_for("2022-01-21T00:03:48Z") == "2022-01-22T00:03:48Z"
    assert cutoff_for("2017-07-23 15:48:13") == "2017-07-24T15:48:13Z"  # naive means UTC
    # not earlier than the interpreter's release plus the margin (2019 task on 3.9)
    assert cutoff_for("2019-06-06T15:21:20Z", "2019-06-01T00:00:00Z", "3.9") == (
        "2021-01-03T00:00:00Z"
    )
    assert cutoff_for("2022-01-21T00:03:48Z", "2021-12-01T00:00:00Z", "3.9.18") == (
        "2021-12-02T00:00:00Z"
    )
    assert cutoff_for("") == cutoff_for("  ", "2022-01-01T00:00:00Z") == ""
    with pytest.raises(EnvBuildError, match="created_at 'last week'"):
        cutoff_for("last week")


def test_tasks_on_one_commit_share_one_dated_environment(tmp_path):
    commit = git_repo(tmp_path / "repo", "2022-01-30T15:34:00+00:00")
    source = str(tmp_path / "repo")
    today = environment_for(task(commit), source)
    first = environment_for(task(commit, created_at="2022-01-21T00:03:48Z"), source)
    second = environment_for(task(commit, created_at="2022-03-01T00:00:00Z"), source)
    assert today.spec.exclude_newer == ""
    assert first.spec.exclude_newer == second.spec.exclude_newer == "2022-01-31T15:34:00Z"
    assert first.key == second.key != today.key
    own = task(commit, created_at="2022-03-01T00:00:00Z")
    own.env_spec = EnvSpec(python="3.9", exclude_newer="2020-01-01T00:00:00Z")
    assert environment_for(own, source).spec.exclude_newer == "2020-01-01T00:00:00Z"
    with pytest.raises(EnvBuildError, match="o__r-1: created_at 'soon'"):
        environment_for(task(commit, created_at="soon"), str(tmp_path))  # plain dir


def test_digest_without_a_cutoff_is_unchanged_and_with_one_includes_it():
    spec = EnvSpec(python="3.9", packages=["pytest"])
    before_the_field = content_hash(spec.model_dump(mode="json", exclude={"exclude_newer"}))
    assert spec.digest() == before_the_field
    dated = spec.model_copy(update={"exclude_newer": "2022-01-22T00:03:48Z"})
    assert dated.digest() == content_hash(dated.model_dump(mode="json"))
    assert dated.digest() != spec.digest()
    assert (
        dated.digest()
        != dated.model_copy(update={"exclude_newer": "2022-01-23T00:00:00Z"}).digest()
    )


def test_exact_pins_and_build_tools_are_exempt_from_the_cutoff():
    spec = swebench_spec("pytest-dev/pytest", "8.0").model_copy(
        update={"exclude_newer": "2023-07-05T07:00:14Z", "packages": ["Mpmath==1.3.0", "flake8"]}
    )
    assert exact_pins(spec) == [
        "exceptiongroup",
        "iniconfig",
        "mpmath",
        "packaging",
        "pluggy",
        "tomli",
    ]
    args = uv_resolution_args(spec)
    assert args[:2] == ["--exclude-newer", "2023-07-05T07:00:14Z"]
    exempt = {args[i + 1] for i, arg in enumerate(args) if arg == "--exclude-newer-package"}
    assert exempt == {f"{name}=false" for name in [*exact_pins(spec), "pip", "setuptools", "wheel"]}
    assert uv_resolution_args(spec.model_copy(update={"exclude_newer": ""})) == []


def plan(spec: EnvSpec, tmp_path: Path) -> dict[str, tuple[str, str | None]]:
    env = Environment(repo="o/r", commit="a" * 40, source=str(tmp_path), spec=spec)
    steps = EnvBuilder(tmp_path)._steps(env, Path("/usr/bin/python3.9"))
    return {name: (command, fallback) for name, command, fallback in steps}


def test_every_uv_install_of_a_dated_build_carries_exclude_newer(tmp_path):
    sqlfluff = swebench_spec("sqlfluff/sqlfluff", "0.8")  # pip inside a compound shell step
    dated = sqlfluff.model_copy(
        update={"exclude_newer": "2022-01-22T00:14:08Z", "packages": ["pytest"]}
    )
    steps = plan(dated, tmp_path)
    flag = "--exclude-newer 2022-01-22T00:14:08Z"
    for name in ("packages", "pre_install[0]", "pre_install[1]", "install[0]"):
        command, fallback = steps[name]
        assert flag in command and "pip install --python /opt/swelego/venv/bin/python" in command
        assert "python -m pip install" not in command
        assert fallback is not None and "exclude-newer" not in fallback  # pip: as written
    assert steps["pre_install[1]"][1] == sqlfluff.pre_install[1]
    assert '--exclude-newer-package wheel=false -r "$f"; rc=$?' in steps["pre_install[1]"][0]
    assert "exclude-newer" not in steps["seed"][0] and "exclude-newer" not in steps["venv"][0]


def test_a_build_without_cutoff_has_no_exclude_newer(tmp_path):
    spec = swebench_spec("sqlfluff/sqlfluff", "0.8").model_copy(update={"packages": ["pytest"]})
    steps = plan(spec, tmp_path)
    assert not any("exclude-newer" in command for command, _ in steps.values())
    assert steps["packages"][0].endswith("pip install --python /opt/swelego/venv/bin/python pytest")


def test_pip_install_commands_are_found_inside_shell_steps():
    command = (
        "if [ -f r.txt ]; then python -m pip install -r r.txt; fi && "
        "python -m pip install 'a==1' b; echo python -m pip installer"
    )
    assert pip_install_args(command) == [["-r", "r.txt"], ["a==1", "b"]]
    assert pip_install_args("sed -i s/python -m pip install/x/ f") == []
    requirements_step = swebench_spec("sqlfluff/sqlfluff", "0.8").pre_install[1]
    spec = EnvSpec(pre_install=[command, requirements_step])
    # the wheelhouse takes what it can name on the host ("$f" is only known in the build)
    assert _step_requirements(spec, Path("/co")) == ["-r", "/co/r.txt", "a==1", "b"]


def test_yanked_versions_are_read_from_uvs_message():
    assert yanked_pins(UV_YANKED_ERROR) == {"types-pkg-resources": "0.1.3"}
    assert yanked_pins("Because only foo<2 is available and you require foo>=2") == {}
