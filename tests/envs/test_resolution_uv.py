"""The resolution rule through real uv, offline: a PEP 691 JSON index on loopback serves
tiny wheels built here with upload times (PEP 700) and one yanked release. Under a cutoff
the newer release does not exist and the yanked one uploaded before it is taken, both in
the builder's sandboxed install step and in the host resolution the docker wheelhouse
uses; without a cutoff today's releases win."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from local_index import serve_index

from swelego_ray.envs import Environment, EnvSpec, find_interpreter
from swelego_ray.envs.builder import EnvBuilder
from swelego_ray.envs.resolution import resolve_pins, run_here, uv_bin

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
CUTOFF = "2021-01-01T00:00:00Z"
RELEASES = {  # name: [(version, upload time, yanked reason or False, kind)]
    "tinypkg": [
        ("1.0", "2020-01-01T00:00:00Z", False, "wheel"),
        ("2.0", "2022-01-01T00:00:00Z", False, "wheel"),
    ],
    "oldonly": [
        ("0.1", "2019-06-01T00:00:00Z", "superseded", "wheel"),
        ("0.2", "2023-01-01T00:00:00Z", False, "wheel"),
    ],
}


@pytest.fixture(scope="module")
def index_url():
    """http://127.0.0.1:PORT/simple, serving RELEASES (JSON pages and the wheel files)."""
    with serve_index(RELEASES) as url:
        yield url


@pytest.fixture
def only_local_index(index_url, tmp_path, monkeypatch):
    """uv sees nothing but the local index (and its own empty cache)."""
    monkeypatch.setenv("UV_DEFAULT_INDEX", index_url)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    return index_url


@pytest.mark.parametrize(
    ("cutoff", "expected"),
    [(CUTOFF, ["oldonly==0.1", "tinypkg==1.0"]), ("", ["oldonly==0.2", "tinypkg==2.0"])],
)
def test_resolve_pins_follows_the_cutoff(only_local_index, tmp_path, cutoff, expected):
    spec = EnvSpec(python=PYTHON, exclude_newer=cutoff)
    pins = resolve_pins(
        spec, find_interpreter(PYTHON), ["tinypkg", "oldonly"], tmp_path / "r", run=run_here
    )
    assert sorted(pins) == expected


@pytest.mark.parametrize(
    ("cutoff", "expected"),
    [(CUTOFF, {"tinypkg": "1.0", "oldonly": "0.1"}), ("", {"tinypkg": "2.0", "oldonly": "0.2"})],
)
def test_builder_install_step(only_local_index, tmp_path, cutoff, expected):
    """The builder's own step runner (sandboxed uv, yank retry), on a venv made here."""
    spec = EnvSpec(python=PYTHON, packages=["tinypkg", "oldonly"], exclude_newer=cutoff)
    env = Environment(repo="o/r", commit="a" * 40, source=str(tmp_path), spec=spec)
    builder = EnvBuilder(tmp_path / "cache")  # its package caches are per build
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
    builder._step(env, work, log, "packages", *steps["packages"])
    assert ("accepting oldonly==0.1" in log.getvalue()) == bool(cutoff)
    assert "(fallback)" not in log.getvalue()  # uv did it, not pip
    site = next((work / "venv" / "lib").glob("python*/site-packages"))
    installed = dict(p.name.removesuffix(".dist-info").split("-") for p in site.glob("*.dist-info"))
    assert installed == expected
