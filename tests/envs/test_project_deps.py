"""A project's own dependencies, read without running its code (offline wheelhouse)."""

from __future__ import annotations

from pathlib import Path

from swelego_ray.envs import EnvSpec
from swelego_ray.envs.images import _step_requirements
from swelego_ray.envs.project_deps import (
    build_requirements,
    local_target_extras,
    static_dependencies,
)


def test_local_targets_and_their_extras():
    assert local_target_extras(".") == set()
    assert local_target_extras("'.[test, dev]'") == {"test", "dev"}
    assert local_target_extras("./vendored") is None
    assert local_target_extras("requests") is None


def test_pyproject_dependencies_and_extras(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\ndependencies = ["click>=8", "attrs"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=7"]\ndocs = ["sphinx"]\n'
    )
    assert static_dependencies(tmp_path, set()) == ["click>=8", "attrs"]
    assert static_dependencies(tmp_path, {"test"}) == ["click>=8", "attrs", "pytest>=7"]


def test_setup_cfg_lists_comments_and_file_directives(tmp_path: Path):
    (tmp_path / "requirements.txt").write_text("# deps\nappdirs\nchardet  # detect\n")
    (tmp_path / "setup.cfg").write_text(
        "[options]\ninstall_requires =\n    # comment\n    click>=8.0\n"
        "    importlib_metadata; python_version < '3.8'\n"
        "[options.extras_require]\ntest = pytest, hypothesis\nreqs = file: requirements.txt\n"
    )
    assert static_dependencies(tmp_path, set()) == [
        "click>=8.0",
        "importlib_metadata; python_version < '3.8'",
    ]
    assert static_dependencies(tmp_path, {"test", "reqs"})[2:] == [
        "appdirs",
        "chardet",
        "pytest",
        "hypothesis",
    ]


def test_unreadable_metadata_contributes_nothing(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert static_dependencies(tmp_path, set()) == []


def test_editable_install_steps_bring_the_projects_dependencies(tmp_path: Path):
    (tmp_path / "setup.cfg").write_text("[options]\ninstall_requires =\n    appdirs\n")
    spec = EnvSpec(install=["python -m pip install -e .", "python -m pip install ./vendored"])
    assert _step_requirements(spec, tmp_path) == ["appdirs"]


def test_installing_the_project_brings_its_build_requirements(tmp_path: Path):
    """pip builds `-e .` offline in an isolated environment: pytest 5.4's pyproject asks
    for setuptools_scm, which the docker wheelhouse must hold (it failed without)."""
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=40.0", "setuptools-scm", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n'
    )
    (tmp_path / "setup.cfg").write_text("[options]\ninstall_requires =\n    iniconfig\n")
    assert build_requirements(tmp_path) == ["setuptools>=40.0", "setuptools-scm", "wheel"]
    spec = EnvSpec(install=["python -m pip install -e ."])
    assert _step_requirements(spec, tmp_path) == [
        "setuptools>=40.0",
        "setuptools-scm",
        "wheel",
        "iniconfig",
    ]
    (tmp_path / "pyproject.toml").write_text("[build-system\n")
    assert build_requirements(tmp_path) == []
    assert build_requirements(tmp_path / "nowhere") == []
