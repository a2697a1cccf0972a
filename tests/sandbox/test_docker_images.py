"""Environment images (cache, labels, other Pythons), the base image recipe, and cleanup of
containers whose owner died."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from docker_fixtures import TINYPKG, deterministic_repo, docker_backend, tiny_env  # noqa: F401

from swelego_ray.envs import Environment, EnvSpec, backends
from swelego_ray.envs.base_image import apt_mirror
from swelego_ray.envs.images import LABEL_KEY, LABEL_SPEC


def test_apt_mirror_reads_deb822_and_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert apt_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    assert apt_mirror("bookworm-security", tmp_path) == "http://security.example/debian-security"
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://old.example/debian trixie main\n"
    )
    assert apt_mirror("trixie", tmp_path) == "http://old.example/debian"
    with pytest.raises(Exception, match="no apt source for suite 'sid'"):
        apt_mirror("sid", tmp_path)


@pytest.mark.docker
def test_prepared_image_is_reused_by_a_new_backend(docker_engine, tiny_env):  # noqa: F811
    backend = backends.docker_backend(docker_engine)
    started = time.monotonic()
    backend.prepare(tiny_env)
    assert time.monotonic() - started < 2.0  # found by tag, not rebuilt
    tag = backend.builder.tag_for(tiny_env)
    labels = backend.client.images.get(tag).labels
    assert labels[LABEL_KEY] == tiny_env.key
    assert labels[LABEL_SPEC] == tiny_env.spec.digest()


@pytest.mark.docker
def test_failed_install_is_an_env_build_error_with_the_log_tail(
    docker_backend,  # noqa: F811
    tmp_path,
):
    from swelego_ray.envs import EnvBuildError

    repo = tmp_path / "broken"
    (sha,) = deterministic_repo(repo, [{"README.md": "x\n"}])
    env = Environment(
        repo="test/broken",
        commit=sha,
        source=str(repo),
        spec=EnvSpec(install=["echo about-to-fail; exit 7"]),
    )
    with pytest.raises(EnvBuildError, match="test__broken") as info:
        docker_backend.prepare(env)
    assert "about-to-fail" in str(info.value)


def test_each_set_up_step_runs_in_its_own_shell(docker_backend, tmp_path):  # noqa: F811
    """A step may end with `exit` (SWE-bench's requirements-file step does): the steps
    after it still run, as on the local builder."""
    repo = tmp_path / "steps"
    (sha,) = deterministic_repo(repo, [{"README.md": "x\n"}])
    spec = EnvSpec(
        packages=[],
        pre_install=["echo one > /tmp/one; exit 0"],
        install=["cp /tmp/one /testbed/.step-two"],
    )
    env = Environment(repo="test/steps", commit=sha, source=str(repo), spec=spec)
    docker_backend.prepare(env)
    with docker_backend.start(env) as sandbox:
        assert sandbox.read_file(".step-two") == "one\n"


@pytest.mark.docker
@pytest.mark.slow
def test_other_python_from_the_host_interpreter(docker_backend, tmp_path_factory):  # noqa: F811
    # The debootstrap base has Python 3.11 only; 3.9 is copied from this host (pyenv).
    repo = tmp_path_factory.mktemp("py39") / "tinypkg"
    (sha,) = deterministic_repo(repo, [TINYPKG])
    env = Environment(
        repo="test/tinypkg39",
        commit=sha,
        source=str(repo),
        spec=EnvSpec(python="3.9", packages=["pytest"]),
    )
    docker_backend.prepare(env)
    with docker_backend.start(env) as sb:
        result = sb.exec("python --version; pytest -q tests")
    assert result.output.startswith("Python 3.9.")
    assert "1 failed, 1 passed" in result.output


_OWNER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from swelego_ray.envs import EnvSpec, Environment
    from swelego_ray.envs import DockerEnvConfig, backends
    config = DockerEnvConfig.model_validate_json(sys.argv[1])
    env = Environment.model_validate_json(sys.argv[2])
    sandbox = backends.docker_backend(config).start(env)
    print(sandbox.container.id, flush=True)
    if sys.argv[3] == "hang":
        time.sleep(600)
    """
)


@pytest.mark.docker
def test_containers_of_dead_or_exited_owners_are_removed(docker_engine, tiny_env):  # noqa: F811
    import docker

    def owner(mode: str) -> tuple[subprocess.Popen, str]:
        args = [docker_engine.model_dump_json(), tiny_env.model_dump_json(), mode]
        proc = subprocess.Popen(
            [sys.executable, "-c", _OWNER_SCRIPT, *args], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        return proc, proc.stdout.readline().strip()

    # exits without closing its sandbox: atexit removes the container
    proc, exited_id = owner("exit")
    proc.wait(timeout=60)
    # killed with SIGKILL: no atexit; the next backend sweeps the container
    proc, killed_id = owner("hang")
    proc.kill()
    proc.wait()
    client = docker.DockerClient(base_url=docker_engine.base_url)
    assert client.containers.get(killed_id).status == "running"
    backends.docker_backend(docker_engine)
    for container_id in (exited_id, killed_id):
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(container_id)
