"""The docker wheelhouse resolves each pip install of a spec on its own, in order, as the
local builder installs them: two steps pinning different versions of one package (flask
2.3's requirements pin markupsafe 2.1.2, SWE-bench's spec 2.1.1) both get their files,
where one merged resolution was unsatisfiable. Real uv and pip download, in the download
sandbox, against a local index (offline)."""

from __future__ import annotations

import sys

import pytest
from local_index import serve_index

from swelego_ray.envs import EnvSpec
from swelego_ray.envs.images import ImageBuilder, ImageConfig, _requirement_groups

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
OLD, NEW = "2020-01-01T00:00:00Z", "2022-01-01T00:00:00Z"
RELEASES = {
    "markupsafe": [("2.1.1", OLD, False, "wheel"), ("2.1.2", OLD, False, "wheel")],
    "tinypkg": [("1.0", OLD, False, "wheel"), ("2.0", NEW, False, "wheel")],
    **{tool: [("1.0", OLD, False, "wheel")] for tool in ("pip", "setuptools", "wheel")},
}


@pytest.fixture(scope="module")
def index_url():
    with serve_index(RELEASES) as url:
        yield url


@pytest.fixture
def only_local_index(index_url, tmp_path, monkeypatch):
    for name in ("UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        monkeypatch.setenv(name, index_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    return index_url


def test_each_install_is_its_own_group_in_build_order(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "dev.txt").write_text("markupsafe==2.1.2\n")
    spec = EnvSpec(
        packages=["tinypkg"],
        pre_install=["python -m pip install -r requirements/dev.txt && echo done"],
        install=["python -m pip install markupsafe==2.1.1; python -m pip install 'tinypkg<2'"],
    )
    assert _requirement_groups(spec, tmp_path) == [
        ["-r", str(tmp_path / "requirements" / "dev.txt")],
        ["markupsafe==2.1.1"],
        ["tinypkg<2"],
    ]


@pytest.mark.parametrize("cutoff", ["", "2021-01-01T00:00:00Z"])
def test_two_steps_pinning_different_versions_both_get_their_files(
    only_local_index, tmp_path, cutoff
):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("markupsafe==2.1.2\ntinypkg\n")
    spec = EnvSpec(
        python=PYTHON,
        packages=[],
        pre_install=["python -m pip install -r requirements.txt"],
        install=["python -m pip install markupsafe==2.1.1"],
        exclude_newer=cutoff,
    )
    builder = ImageBuilder(None, ImageConfig(wheelhouse=True), tmp_path / "cache")
    names = sorted(path.name for path in builder._wheels(spec, checkout))
    tiny = "tinypkg-1.0" if cutoff else "tinypkg-2.0"  # the cutoff still applies per step
    assert names == [
        "markupsafe-2.1.1-py3-none-any.whl",
        "markupsafe-2.1.2-py3-none-any.whl",
        "pip-1.0-py3-none-any.whl",
        "setuptools-1.0-py3-none-any.whl",
        f"{tiny}-py3-none-any.whl",
        "wheel-1.0-py3-none-any.whl",
    ]
