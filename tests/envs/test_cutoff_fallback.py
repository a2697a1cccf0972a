"""Builds that the resolution cutoff alone would make impossible, through real uv against
a local index (offline): a package whose only release before the cutoff is an sdist that
does not build gets its oldest release with a wheel (logged, recorded, warned about), and
a spec asking for pytest without a version gets the current one, not a 2014 one."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from local_index import serve_index

from swelego_ray.envs import EnvBuildError, Environment, EnvSpec, find_interpreter
from swelego_ray.envs.builder import _RELAXED, EnvBuilder
from swelego_ray.envs.resolution import (
    RUNNER_PACKAGES,
    asks_for_current_runner,
    build_constraints,
    cutoff_exempt,
    failed_builds,
    uv_bin,
    uv_resolution_args,
)
from swelego_ray.envs.system_libs import missing_system_hint

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
CUTOFF = "2021-01-01T00:00:00Z"
RELEASES = {
    # before the cutoff only an sdist that cannot build here; wheels came later
    "nowheel": [
        ("1.0", "2020-01-01T00:00:00Z", False, "broken-sdist"),
        ("1.1", "2022-01-01T00:00:00Z", False, "wheel"),
        ("1.2", "2023-01-01T00:00:00Z", False, "wheel"),
    ],
    "neverbuilds": [("0.5", "2020-01-01T00:00:00Z", False, "broken-sdist")],
    "tinypkg": [
        ("1.0", "2020-01-01T00:00:00Z", False, "wheel"),
        ("2.0", "2022-01-01T00:00:00Z", False, "wheel"),
    ],
    "pytest": [
        ("2.6.4", "2014-10-24T00:00:00Z", False, "wheel"),
        ("8.3.0", "2024-07-20T00:00:00Z", False, "wheel"),
    ],
}

# What uv 0.13 printed when netCDF4 1.5.3 (the newest before a 2020 cutoff) had no
# wheel for Python 3.9 and its sdist needed HDF5's headers (trimmed).
UV_NETCDF4 = """\
   Building netcdf4==1.5.3
   Building numpy==1.18.3
error: Failed to build `netcdf4==1.5.3`
  cause: The build backend returned an error
         Package hdf5 was not found in the pkg-config search path.
         Package 'hdf5', required by 'virtual:world', not found
"""


@pytest.fixture(scope="module")
def index_url():
    with serve_index(RELEASES) as url:
        yield url


@pytest.fixture
def only_local_index(index_url, tmp_path, monkeypatch):
    """uv (and pip) see nothing but the local index."""
    monkeypatch.setenv("UV_DEFAULT_INDEX", index_url)
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    return index_url


def build_step(tmp_path: Path, packages: list[str], cutoff: str = CUTOFF):
    """Run the builder's `packages` step on a venv made here; (log text, installed, work)."""
    spec = EnvSpec(python=PYTHON, packages=packages, exclude_newer=cutoff)
    env = Environment(repo="o/r", commit="a" * 40, source=str(tmp_path), spec=spec)
    builder = EnvBuilder(tmp_path / "cache")
    work = tmp_path / "work"
    for part in ("testbed", "tmp"):
        (work / part).mkdir(parents=True)
    interpreter = find_interpreter(PYTHON)
    subprocess.run(
        [uv_bin(), "venv", "--quiet", "--python", str(interpreter), str(work / "venv")],
        check=True,
    )
    steps = {name: (cmd, fb) for name, cmd, fb in builder._steps(env, interpreter)}
    log = io.StringIO()
    error = None
    try:
        builder._step(env, work, log, "packages", *steps["packages"])
    except EnvBuildError as exc:
        error = exc
    site = next((work / "venv" / "lib").glob("python*/site-packages"))
    installed = dict(p.name.removesuffix(".dist-info").split("-") for p in site.glob("*.dist-info"))
    return log.getvalue(), installed, work, error


def test_unbuildable_release_before_the_cutoff_takes_the_oldest_wheel(
    only_local_index, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="swelego_ray.envs.builder")
    log, installed, work, error = build_step(tmp_path, ["nowheel", "tinypkg"])
    assert error is None
    # 1.1, not 1.2 (the oldest release with a wheel), and tinypkg still under the cutoff
    assert installed == {"nowheel": "1.1", "tinypkg": "1.0"}
    assert "Failed to build `nowheel==1.0`" in log
    assert "--exclude-newer-package nowheel=false" in log
    assert "(fallback)" not in log  # uv did it under the rule, not pip without one
    relaxed = (work / "tmp" / _RELAXED).read_text()
    assert "nowheel 1.0 (newest before the cutoff 2021-01-01T00:00:00Z) did not build" in relaxed
    assert "nowheel==1.1" in relaxed
    assert any("nowheel==1.1" in r.getMessage() for r in caplog.records)  # never silent


def test_a_package_with_no_wheel_at_all_fails_naming_the_system_package(only_local_index, tmp_path):
    log, installed, _, error = build_step(tmp_path, ["neverbuilds"])
    assert error is not None and "neverbuilds" not in installed
    assert "step packages failed" in str(error)
    assert "libhdf5-dev (for hdf5.h)" in str(error)  # the system package it lacked
    assert "RELAXED: step packages: uv failed under the cutoff" in log  # pip tried, logged


def test_unpinned_pytest_is_the_current_one(only_local_index, tmp_path):
    _, installed, _, error = build_step(tmp_path, ["pytest"], cutoff="2015-01-01T00:00:00Z")
    assert error is None and installed == {"pytest": "8.3.0"}


def test_pinned_or_bounded_pytest_keeps_the_cutoff(only_local_index, tmp_path):
    _, installed, _, error = build_step(tmp_path, ["pytest<9"], cutoff="2015-01-01T00:00:00Z")
    assert error is None and installed == {"pytest": "2.6.4"}


def test_runner_exemption_rule():
    dated = {"python": "3.9", "exclude_newer": "2014-11-02T00:00:00Z"}
    plain = EnvSpec(**dated, packages=["pytest"])  # SWE-bench's psf/requests specs
    assert asks_for_current_runner(plain)
    assert set(RUNNER_PACKAGES) <= set(cutoff_exempt(plain))
    args = uv_resolution_args(plain)
    assert "pytest=false" in args and "pluggy=false" in args
    for bounded in (["pytest==3.5.1"], ["pytest<5"], ["pytest-cov"], []):
        spec = EnvSpec(**dated, packages=bounded)
        assert not asks_for_current_runner(spec)
        assert "pluggy" not in cutoff_exempt(spec)
    in_step = EnvSpec(**dated, pre_install=["python -m pip install pytest 'numpy<2'"])
    assert asks_for_current_runner(in_step)
    extra = uv_resolution_args(EnvSpec(**dated), ("numpy",))
    assert "numpy=false" in extra


def test_failed_builds_and_system_hints_are_read_from_uvs_messages():
    assert failed_builds(UV_NETCDF4) == {"netcdf4": "1.5.3"}
    assert failed_builds("Failed to download and build `iniconfig==0.1`") == {"iniconfig": "0.1"}
    assert failed_builds("Failed to build `sqlfluff @ file:///testbed`") == {}
    assert "libhdf5-dev (for hdf5)" in missing_system_hint(UV_NETCDF4)
    assert "libfreetype-dev" in missing_system_hint(
        "src/ft.c:3:10: fatal error: ft2build.h: No such file or directory"
    )
    assert "libpq-dev" in missing_system_hint("/bin/sh: 1: pg_config: not found")
    assert "providing foo.h" in missing_system_hint("fatal error: foo.h: No such file or directory")
    assert missing_system_hint("AssertionError: 1 != 2") == ""


def test_isolated_builds_of_dated_environments_keep_pkg_resources(tmp_path):
    """setuptools 81 removed pkg_resources; build tooling of older cutoffs imports it
    (pytest 5.4's setuptools_scm): their isolated builds get setuptools<81."""
    old = EnvSpec(python=PYTHON, exclude_newer="2020-06-16T16:41:21Z")
    assert build_constraints(old) == ["setuptools<81"]
    assert build_constraints(old.model_copy(update={"exclude_newer": ""})) == []
    assert build_constraints(old.model_copy(update={"exclude_newer": "2026-03-01T00:00:00Z"})) == []
    env = Environment(repo="o/r", commit="a" * 40, source=str(tmp_path), spec=old)
    work = tmp_path / "work"
    for part in ("testbed", "tmp", "venv"):
        (work / part).mkdir(parents=True)
    result = EnvBuilder(tmp_path / "cache")._run(env, work, 'cat "$UV_BUILD_CONSTRAINT"')
    assert result.exit_code == 0 and result.output.strip() == "setuptools<81"
