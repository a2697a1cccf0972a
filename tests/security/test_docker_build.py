"""Docker image builds: a repository's setup code never runs on the host (the offline
wheelhouse downloads in a build sandbox), image builds have no network, and images have
the tools the harness needs (a missing one is an error naming it).

The wheelhouse cases need no engine (ImageBuilder._wheels is called as an image build
calls it); the others are marked `docker` and use podman's Docker-API service.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attack_support  # noqa: F401  (sibling test packages on the path)
import pytest
from docker_fixtures import deterministic_repo, docker_backend  # noqa: F401

from swelego_ray.envs import EnvBuildError, Environment, EnvSpec, backends, base_image
from swelego_ray.envs.images import MISSING_TOOLS_SHELL, ImageBuilder, ImageConfig
from swelego_ray.sandbox import SandboxError, StartState
from swelego_ray.sandbox._docker_states import remove_states

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
    kept = [p for p in wheels.iterdir() if not p.name.startswith(".")]
    # nothing kept from the failed download, no work directory left: each pip install
    # step is its own download, and only the build tools' (before it) succeeded
    for listing in (p for p in kept if p.name != "other-listing"):
        names = json.loads((listing / "files.json").read_text())
        tools = {"pip", "setuptools", "wheel", "packaging"}  # packaging: wheel's dependency
        assert {n.split("-")[0] for n in names} <= tools, names


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

    checkout, marker, _ = _attack_checkout(tmp_path, _RAISE)
    subprocess.run(
        [sys.executable, "setup.py", "--version"], cwd=checkout / "evilpkg", capture_output=True
    )
    assert marker.read_text() == "host code execution"


# -- docker: tools and the build network ------------------------------------------------


def test_the_base_image_recipe_has_patch_and_a_new_tag_for_it(monkeypatch):
    """An engine (or tarball cache) holding the base from before `patch` was added is never
    taken for the current one: the tag hashes the package list."""
    assert "patch" in base_image.PACKAGES
    current = base_image.base_image_name("bookworm")
    without = tuple(p for p in base_image.PACKAGES if p != "patch")
    monkeypatch.setattr(base_image, "PACKAGES", without)
    assert base_image.base_image_name("bookworm") != current


@pytest.mark.docker
def test_the_base_image_has_every_tool_the_harness_needs(docker_backend):  # noqa: F811
    base = docker_backend.config.images.base_image
    missing = docker_backend.builder._output_of(base, ["sh", "-c", MISSING_TOOLS_SHELL])
    assert missing.split() == [], f"{base} lacks {missing.split()}"


def _env(tmp_path: Path, name: str, spec: EnvSpec) -> Environment:
    repo = tmp_path / name
    (sha,) = deterministic_repo(repo, [{"README.md": f"{name}\n"}])
    return Environment(repo=f"test/{name}", commit=sha, source=str(repo), spec=spec)


@pytest.mark.docker
def test_image_builds_run_without_network(docker_backend, tmp_path):  # noqa: F811
    """The set-up runs the repository's code: with the wheelhouse it sees only a loopback
    and reaches nothing (podman 4.3.1's build API put RUN steps in the host's network
    namespace whatever networkmode said: set-up steps are containers now)."""
    assert docker_backend.config.images.wheelhouse
    probe = (
        "tail -n +3 /proc/net/dev | cut -d: -f1 > /testbed/.build-net; "
        "python3 -c 'import socket; socket.create_connection((\"pypi.org\", 443), 5)' "
        ">/dev/null 2>&1 && echo reached >> /testbed/.build-net || echo unreachable >> "
        "/testbed/.build-net"
    )
    env = _env(tmp_path, "netprobe", EnvSpec(packages=[], install=[probe]))
    with docker_backend.start(env) as sandbox:
        seen = sandbox.read_file("/testbed/.build-net").split()
    assert seen == ["lo", "unreachable"]


@pytest.mark.docker
def test_an_image_without_a_harness_tool_fails_its_build_naming_it(
    docker_backend,  # noqa: F811
    tmp_path,
):
    spec = EnvSpec(packages=[], install=['rm -f "$(command -v patch)"'])
    env = _env(tmp_path, "nopatch", spec)
    with pytest.raises(EnvBuildError, match=r"the image lacks patch \(the harness needs"):
        docker_backend.prepare(env)


@pytest.mark.docker
def test_a_sandbox_of_an_image_without_a_harness_tool_is_refused_naming_it(
    docker_engine,
    docker_backend,  # noqa: F811
    tmp_path,
):
    """Checked once per image at sandbox start: here a kept start state whose preparation
    removed `patch` (later sandboxes start from that image)."""
    env = _env(tmp_path, "tools", EnvSpec(packages=[], install=[]))

    def prepare(sandbox) -> str:
        sandbox.exec('rm -f "$(command -v patch)" "$(command -v timeout)"')
        return "removed"

    state = StartState(f"no-patch-{os.urandom(8).hex()}", prepare, env.commit)
    sandbox, note = docker_backend.start_prepared(env, state)  # prepared before the check
    sandbox.close()
    assert note == "removed"
    fresh = backends.docker_backend(docker_engine, kill_grace_s=1.0)
    try:
        with pytest.raises(SandboxError, match=r"lacks patch, timeout, which the harness runs"):
            fresh.start_prepared(env, state)
        with fresh.start(env) as sandbox:  # the environment's own image is fine
            assert sandbox.exec("command -v patch").exit_code == 0
    finally:
        remove_states(fresh.client, env_key=env.key)
