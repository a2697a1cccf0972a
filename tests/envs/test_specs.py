"""Spec resolution: explicit, SWE-bench's registry, and defaults derived from a checkout."""

from __future__ import annotations

import pytest

from swelego_ray.envs import EnvBuildError, EnvSpec
from swelego_ray.envs._swebench_specs import (
    INSTALLERS_STEP,
    swebench_spec,
    swebench_specs,
    translate,
)
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
    assert spec.packages == [] and spec.pre_install == [INSTALLERS_STEP]


def test_swebench_translation_of_common_fields():
    flask = swebench_spec("pallets/flask", "2.0")
    assert flask.pre_install[0] == INSTALLERS_STEP  # what SWE-bench's images install with
    assert "requirements/dev.txt" in flask.pre_install[1]
    assert flask.pre_install[2].startswith("python -m pip install setuptools==70.0.0")
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


def test_an_old_environment_gets_the_python_of_its_time():
    """Before 3.11 had been out 90 days: the newest Python out 90 days by then (old code
    often does not import on today's: markupsafe 1.x and `collections.Mapping`)."""
    here = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12"]
    assert pick_python("", here, as_of="2020-03-01T00:00:00+00:00") == "3.8"
    assert pick_python("", here, as_of="2019-11-01T00:00:00Z") == "3.7"  # 3.8: 18 days old
    assert pick_python(">=3.9", here, as_of="2020-03-01T00:00:00Z") == "3.9"  # none yet: oldest
    assert pick_python("", here, as_of="2014-05-01T00:00:00Z") == "3.6"  # Python 3 first
    assert pick_python("", here, as_of="2023-06-01T00:00:00Z") == "3.11"  # recent: unchanged
    assert pick_python(">=3.12", here, as_of="2024-06-01T00:00:00Z") == "3.12"


def test_a_dated_derived_spec_is_of_its_time(tmp_path):
    import subprocess

    repo = tmp_path / "old"
    repo.mkdir()
    (repo / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    when = "2020-03-01T12:00:00Z"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "PATH": "/usr/bin:/bin",
           "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}  # fmt: skip
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "old"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    old = Task(instance_id="o__r-2", repo="o/r", base_commit=sha.stdout.strip(),
               created_at="2020-03-05T00:00:00Z")  # fmt: skip
    spec = environment_for(old, str(repo), tmp_path / "cache").spec
    assert spec.python == "3.8" and spec.packages == ["pytest>=3.0"]  # not today's pytest
    assert spec.exclude_newer == "2020-03-02T12:00:00Z"  # the commit's day, not 3.11's
    undated = old.model_copy(update={"created_at": ""})
    spec = environment_for(undated, str(repo), tmp_path / "cache").spec
    assert spec.python == "3.11" and spec.packages == ["pytest"] and not spec.exclude_newer


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


def test_missing_swebench_names_the_extra_that_installs_it(monkeypatch):
    import importlib.util

    from swelego_ray.envs import _swebench_specs

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "swebench" else found(name)
    )
    with pytest.raises(EnvBuildError, match=r"pip install 'swelego-ray\[swebench\]'"):
        _swebench_specs._swebench_file("harness/constants/python.py")


def test_conda_environment_yml_is_installed_from_the_index():
    """SWE-bench's xarray / matplotlib 3.5+ specs: `conda env update -f environment.yml`
    becomes a pip requirements list read from the same file at build time."""
    from swelego_ray.envs._conda_yml import conda_requirements

    yml = (
        "name: t\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.10\n"
        "  - numpy=1.23.*\n  - h5py=2\n  - hdf5\n  - matplotlib-base >=3.5\n"
        "  - lxml    # optional\n"
        "  - conda-forge::scipy 1.9.1 py310_0\n  # - pynio: off\n  - pip\n  - pip:\n"
        "    - numbagg==0.2\n    - -e .\nvariables:\n  - X\n"
    )
    dropped: list[str] = []
    assert conda_requirements(yml, dropped) == [
        "numpy==1.23.*",
        "h5py==2.*",
        "matplotlib>=3.5",
        "lxml",
        "scipy==1.9.1",
        "numbagg==0.2",
    ]
    assert dropped == ["python", "hdf5", "pip"]
    step = swebench_spec("pydata/xarray", "0.12").pre_install[1]
    assert "ci/requirements/environment.yml" in step and "conda_requirements" in step


def test_requirement_files_are_read_at_the_environment_setup_commit():
    """SWE-bench reads a spec's requirements file at environment_setup_commit (one level
    of -r expanded, included lines first); the step carries that text, the wheelhouse
    reads it back, and bash writes exactly it."""
    import subprocess

    from swelego_ray.envs._setup_files import inline_setup_files, inline_text

    files = {"req/dev.txt": "pytest\n-r base.txt\n# c\n", "req/base.txt": "click>=7\n"}
    spec = swebench_spec("pallets/flask", "2.0")  # candidates: requirements/dev.txt
    assert inline_setup_files(spec, "abc123", files.get) is spec  # no candidate there
    files["requirements/dev.txt"] = files.pop("req/dev.txt")
    files["requirements/base.txt"] = files.pop("req/base.txt")
    inlined = inline_setup_files(spec, "abc123", files.get)
    step = inlined.pre_install[1]
    assert inline_text(step) == ("requirements/dev.txt", "click>=7\npytest\n# c")
    head = step.split('f="$(mktemp)"')[0]
    out = subprocess.run(["bash", "-c", head + 'cat "$req"; rm -f "$req"'], capture_output=True)
    assert out.stdout.decode() == "click>=7\npytest\n# c\n"
    assert inlined.pre_install[2:] == spec.pre_install[2:]
    # the whole step under the docker set-up's `set -euo pipefail`, with no VCS line
    # (grep selecting nothing must not fail it) and pip stood in for by `cat`
    script = "set -euo pipefail\n(" + step.replace("python -m pip install -r", "cat") + "\n)"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "click>=7\npytest\n"), out.stderr


def test_tox_current_env_runs_the_venvs_python(tmp_path):
    """sphinx >= 3.4 runs `tox --current-env -epy39`: the build puts scripts that exec the
    venv's interpreter where tox-current-env would link (a link does not see the venv)."""
    import subprocess

    spec = swebench_spec("sphinx-doc/sphinx", "3.5")
    shim = spec.install[-1]
    assert spec.test_cmd.startswith("tox --current-env") and ".tox/py39/bin" in shim
    subprocess.run(["bash", "-c", shim], cwd=tmp_path, check=True)
    for name in ("python", "python3", "python3.9"):
        script = tmp_path / ".tox/py39/bin" / name
        assert script.read_text() == '#!/bin/sh\nexec /opt/swelego/venv/bin/python "$@"\n'
        assert script.stat().st_mode & 0o111
    assert not any("--current-env" in s for s in swebench_spec("pytest-dev/pytest", "5.4").install)
