"""Spec resolution: explicit, SWE-bench's registry, and defaults derived from a checkout."""

from __future__ import annotations

import pytest

from swelego_ray.envs import EnvBuildError, EnvSpec
from swelego_ray.envs._swebench_specs import swebench_spec, swebench_specs, translate
from swelego_ray.envs.interpreters import find_interpreter
from swelego_ray.envs.specs import default_spec, environment_for, pick_python, spec_for
from swelego_ray.schema import Task


def task(**fields) -> Task:
    return Task(instance_id="o__r-1", repo=fields.pop("repo", "o/r"), base_commit="abc", **fields)


def test_explicit_env_spec_wins():
    spec = spec_for(task(env_spec={"python": "3.10", "test_cmd": "pytest -x"}, version="3.0"))
    assert spec == EnvSpec(python="3.10", test_cmd="pytest -x")
    with pytest.raises(ValueError, match=r"env_spec\.pyhton"):  # refused with the task
        task(env_spec={"pyhton": "3.10"})


def test_swebench_spec_for_marshmallow_3_0():
    spec = spec_for(task(repo="marshmallow-code/marshmallow", version="3.0"))
    assert spec.python == "3.9"
    assert spec.install == ["python -m pip install -e '.[dev]'"]
    assert spec.test_cmd == "pytest -rA"
    assert spec.log_parser == "pytest"
    assert spec.packages == [] and spec.pre_install == []


def test_swebench_translation_of_common_fields():
    flask = swebench_spec("pallets/flask", "2.0")
    assert "requirements/dev.txt" in flask.pre_install[0]
    assert flask.pre_install[1].startswith("python -m pip install setuptools==70.0.0")
    sklearn = swebench_spec("scikit-learn/scikit-learn", "0.20")
    assert sklearn.packages[:2] == ["numpy", "scipy"]
    assert swebench_spec("pydicom/pydicom", "2.0").log_parser == "pytest_options"
    assert swebench_spec("sympy/sympy", "1.1").log_parser == "sympy"
    # Specs translate or are refused with the repo and version named; never half-translated.
    outcomes = {"ok": 0, "refused": 0}
    for repo, versions in swebench_specs().items():
        for version in versions:
            try:
                swebench_spec(repo, version)
                outcomes["ok"] += 1
            except EnvBuildError as err:
                assert repo in str(err)
                outcomes["refused"] += 1
    assert outcomes["ok"] > 150 and outcomes["refused"] > 0


def test_swebench_unsupported_fields_are_refused_by_name():
    with pytest.raises(EnvBuildError, match=r"django/django 2\.2: pre_install needs system"):
        swebench_spec("django/django", "2.2")
    with pytest.raises(EnvBuildError, match=r"django/django 3\.0: unsupported eval command"):
        swebench_spec("django/django", "3.0")
    django = swebench_spec("django/django", "3.0", allow_system_steps=True)
    assert django.env_vars["LANG"] == "en_US.UTF-8"
    with pytest.raises(EnvBuildError, match=r"environment\.yml"):
        translate("x/y", "1", {"python": "3.9", "packages": "environment.yml", "test_cmd": "t"})
    with pytest.raises(EnvBuildError, match="unsupported SWE-bench spec fields"):
        translate("x/y", "1", {"python": "3.9", "test_cmd": "t", "docker_magic": 1})


def test_default_spec_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nrequires-python = ">=3.8,<3.10"\n'
        "[project.optional-dependencies]\ntest = ['pytest']\ndocs = ['sphinx']\n"
    )
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    spec = default_spec(tmp_path)
    assert spec.python == "3.9"
    assert spec.install == ["python -m pip install -e '.[test]'"]
    assert spec.pre_install == ["python -m pip install -r requirements-dev.txt"]
    assert spec.test_cmd == "pytest -rA" and "pytest" in spec.packages


def test_default_spec_from_setup_cfg_and_setup_py(tmp_path):
    (tmp_path / "setup.cfg").write_text(
        "[options]\npython_requires = >=3.7\n[options.extras_require]\ntesting = pytest\n"
    )
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    spec = default_spec(tmp_path)
    assert spec.python == "3.11"
    assert spec.install == ["python -m pip install -e '.[testing]'"]
    bare = tmp_path / "bare"
    bare.mkdir()
    assert default_spec(bare).install == []


def test_pick_python_never_substitutes():
    assert pick_python(">=3.12", ["3.9", "3.12", "3.13"]) == "3.13"
    with pytest.raises(EnvBuildError, match="no available Python"):
        pick_python("<3.0", ["3.9"])


def test_missing_interpreter_is_a_clear_error():
    with pytest.raises(EnvBuildError, match=r"no Python 3\.4 interpreter"):
        find_interpreter("3.4")
    with pytest.raises(EnvBuildError, match=r"MAJOR\.MINOR"):
        find_interpreter("three")
    assert find_interpreter("3.11").name.startswith("python3")


def test_environment_for_derives_from_checkout(make_git_repo, tmp_path):
    repo, shas = make_git_repo({"setup.py": "from setuptools import setup\nsetup()\n"})
    t = Task(instance_id="o__r-1", repo="o/r", base_commit=shas[0])
    env = environment_for(t, str(repo), tmp_path / "cache")
    assert env.commit == shas[0] and env.spec.install == ["python -m pip install -e ."]
    assert env.key.startswith("o__r@")
    with pytest.raises(EnvBuildError, match="a checkout is needed"):
        spec_for(t)
