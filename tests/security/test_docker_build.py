"""Docker image builds: a repository's setup code never runs on the host (the offline
wheelhouse downloads in a build sandbox), image builds have no network, and images have
the tools the harness needs (a missing one is an error naming it).

The wheelhouse cases need no engine (ImageBuilder._wheels is called as an image build
calls it); the others are marked `docker` and use podman's Docker-API service.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.envs import EnvBuildError, EnvSpec
from swelego_ray.envs.images import ImageBuilder, ImageConfig

# setup.py of a local package a requirements file names: it tries to change the host, then
# reports what happened (SystemExit makes pip print it in the error).
_SETUP_PY = """\
import os, pathlib
results = []

def attempt(what, action):
    try:
        action()
        results.append(what + ": done")
    except Exception as exc:
        results.append(what + ": " + type(exc).__name__)

def pip_dest():
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = open(f"/proc/{{pid}}/cmdline", "rb").read().decode().split("\\0")
        except OSError:
            continue
        if "download" in args and "-d" in args:
            return pathlib.Path(args[args.index("-d") + 1])
    raise RuntimeError("no pip download found")

attempt("host marker", lambda: pathlib.Path({marker!r}).write_text("host code execution"))
dest = pip_dest()
other = dest.parent.parent / "other-listing" / "six-1.16.0-py2.py3-none-any.whl"
attempt("other listing", lambda: other.write_text("trojan"))
{extra}
"""
_RAISE = 'raise SystemExit("swelego-attack ran: " + "; ".join(results))'
_PLANT = (  # setup.py runs more than once (build requirements, then metadata)
    'attempt("plant", lambda: os.symlink("/etc/passwd", dest / "evil-1.0-py3-none-any.whl"))'
)


def _attack_checkout(tmp_path: Path, extra: str) -> tuple[Path, Path, Path]:
    """(checkout, host marker, other listing's wheel): a repository whose requirements
    file names its own local package ./evilpkg, with the setup.py above."""
    checkout = tmp_path / "checkout"
    (checkout / "evilpkg").mkdir(parents=True)
    marker = tmp_path / "MARKER"
    setup = _SETUP_PY.format(marker=str(marker), extra=extra)
    (checkout / "evilpkg" / "setup.py").write_text(
        setup + "from setuptools import setup\nsetup(name='evilpkg', version='1.0')\n"
    )
    (checkout / "requirements.txt").write_text("./evilpkg\n")
    return checkout, marker, tmp_path / "other-wheel"


@pytest.fixture
def builder(tmp_path) -> ImageBuilder:
    """An ImageBuilder whose wheelhouse is in tmp_path, with another requirement list's
    wheels already kept there (what the attack tries to overwrite)."""
    built = ImageBuilder(None, ImageConfig(wheelhouse=True), tmp_path / "cache")  # type: ignore[arg-type]
    other = tmp_path / "cache" / "docker" / "wheels" / "py3.11" / "other-listing"
    other.mkdir(parents=True)
    (other / "six-1.16.0-py2.py3-none-any.whl").write_text("the real wheel")
    (other / "files.json").write_text(json.dumps(["six-1.16.0-py2.py3-none-any.whl"]))
    return built


def _other_listing_unchanged(builder: ImageBuilder) -> bool:
    other = builder.cache_dir / "docker" / "wheels" / "py3.11" / "other-listing"
    wheel = other / "six-1.16.0-py2.py3-none-any.whl"
    return sorted(p.name for p in other.iterdir()) == [
        "files.json",
        "six-1.16.0-py2.py3-none-any.whl",
    ] and (wheel.read_text() == "the real wheel")


SPEC = EnvSpec(python="3.11", install=["python -m pip install -r requirements.txt"])


def test_wheelhouse_runs_an_sdists_setup_only_inside_the_build_sandbox(builder, tmp_path):
    checkout, marker, _ = _attack_checkout(tmp_path, _RAISE)
    with pytest.raises(EnvBuildError, match="in a build sandbox") as err:
        builder._wheels(SPEC, checkout)
    message = str(err.value)
    assert "swelego-attack ran" in message  # the setup code did run: in the sandbox
    assert "other listing: done" not in message
    assert not marker.exists(), "setup.py wrote on the host"
    assert _other_listing_unchanged(builder)
    wheels = builder.cache_dir / "docker" / "wheels" / "py3.11"
    assert sorted(p.name for p in wheels.iterdir() if not p.name.startswith(".")) == [
        "other-listing"
    ]  # nothing kept from the failed download, no work directory left


def test_what_a_sandboxed_download_plants_is_refused(builder, tmp_path):
    """setup.py succeeds but leaves a symlink to a host file among the downloads: the
    files are checked on the host before anything is kept or sent to an image build."""
    checkout, marker, _ = _attack_checkout(tmp_path, _PLANT)
    with pytest.raises(EnvBuildError, match=r"evil-1\.0-py3-none-any\.whl.*refused"):
        builder._wheels(SPEC, checkout)
    assert not marker.exists()
    assert _other_listing_unchanged(builder)


def test_setup_py_fixture_is_live_on_the_host(tmp_path):
    """Control: the same setup.py run directly on the host does write the marker (so the
    tests above fail if the download ever runs on the host again)."""
    import subprocess
    import sys

    checkout, marker, _ = _attack_checkout(tmp_path, _RAISE)
    subprocess.run(
        [sys.executable, "setup.py", "--version"], cwd=checkout / "evilpkg", capture_output=True
    )
    assert marker.read_text() == "host code execution"
