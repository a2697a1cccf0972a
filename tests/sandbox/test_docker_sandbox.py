"""The docker backend against a real Docker-API engine (podman's service, see conftest)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from docker_fixtures import docker_backend, tiny_env, two_commit_env  # noqa: F401

from swelego_ray.envs import get_backend
from swelego_ray.sandbox import TESTBED, VENV, Limits, SandboxError

pytestmark = pytest.mark.docker


@pytest.fixture
def sandbox(docker_backend, tiny_env):  # noqa: F811
    with docker_backend.start(tiny_env, Limits(timeout_s=60, memory_mb=512)) as sb:
        yield sb


def test_unreachable_engine_names_the_url_and_how_to_start_podman(tmp_path):
    url = f"unix://{tmp_path}/nothing.sock"
    with pytest.raises(SandboxError, match="podman system service") as info:
        get_backend("docker", base_url=url)
    assert url in str(info.value)


def test_package_tests_run_inside_the_image(sandbox):
    result = sandbox.exec("pytest -rA tests")
    assert result.exit_code == 1, result.output
    assert "PASSED tests/test_add.py::test_add" in result.output
    assert "FAILED tests/test_add.py::test_wrong" in result.output
    assert not result.timed_out and not result.oom


def test_paths_env_and_clean_tree_match_the_contract(sandbox, tiny_env):  # noqa: F811
    result = sandbox.exec(
        'pwd; command -v python; echo "$TINY_VAR $EXTRA"; git rev-parse HEAD; '
        "git status --porcelain; python -c 'import tinypkg; print(tinypkg.__file__)'",
        env={"EXTRA": "given"},
    )
    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    assert lines[0] == TESTBED
    assert lines[1] == f"{VENV}/bin/python"
    assert lines[2] == "42 given"
    assert lines[3] == tiny_env.commit
    # the editable install's egg-info is excluded: the tree starts clean
    assert lines[4] == f"{TESTBED}/src/tinypkg/__init__.py"


def test_stdin_is_delivered_whole_and_defaults_to_empty(sandbox):
    big = b"0123456789abcdef" * (3 << 16)  # 3 MB
    assert sandbox.exec("cat | wc -c", stdin=big).output.strip() == str(len(big))
    binary = bytes(range(256)) * 64 + os.urandom(1 << 20)
    result = sandbox.exec("sha256sum", stdin=binary)
    assert result.output.split()[0] == hashlib.sha256(binary).hexdigest(), result
    assert sandbox.exec("cat | wc -c").output.strip() == "0"  # no stdin: empty, no hang
    assert sandbox.exec("cat | wc -c", stdin=b"").output.strip() == "0"
    # a command that does not read its input still ends at once
    started = time.monotonic()
    assert sandbox.exec("echo done", stdin=big).output == "done\n"
    assert time.monotonic() - started < 5
    assert sandbox.exec("read line; echo got $line", stdin=b"abc\ndef\n").output == "got abc\n"


def test_files_and_diff(sandbox):
    sandbox.write_file("src/tinypkg/__init__.py", "def add(a, b):\n    return a + b + 0\n")
    sandbox.write_file("/testbed/new/dir/notes.txt", "hello\n")
    sandbox.exec("printf '\\x00\\x01binary' > blob.bin")
    assert sandbox.read_file("new/dir/notes.txt") == "hello\n"
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("missing.txt")
    diff = sandbox.diff()
    assert "+    return a + b + 0" in diff
    assert "+++ b/new/dir/notes.txt" in diff
    assert "blob.bin" not in diff  # binary files are dropped
    assert sandbox.exec("pytest -q tests").exit_code == 1


def test_start_on_another_commit_of_the_repository(docker_backend, two_commit_env):  # noqa: F811
    env, shas = two_commit_env
    with docker_backend.start(env, commit=shas[0]) as sb:
        assert sb.read_file("pkg/mod.py") == "VALUE = 1\n"
        assert sb.exec("git rev-parse HEAD").output.strip() == shas[0]
        assert sb.diff() == ""
        sb.write_file("pkg/mod.py", "VALUE = 3\n")
        assert "-VALUE = 1\n+VALUE = 3" in sb.diff()
    with docker_backend.start(env) as sb:
        assert sb.read_file("pkg/mod.py") == "VALUE = 2\n"
        assert sb.read_file("README.md") == "v2 (set-up edit)\n"
        assert sb.diff() == ""  # the set-up edit was committed in the image
        sb.write_file("pkg/mod.py", "VALUE = 4\n")
        assert "-VALUE = 2\n+VALUE = 4" in sb.diff()


def test_close_removes_the_container_and_is_idempotent(docker_backend, tiny_env):  # noqa: F811
    import docker

    sb = docker_backend.start(tiny_env)
    container_id = sb.container.id
    sb.close()
    sb.close()
    with pytest.raises(docker.errors.NotFound):
        docker_backend.client.containers.get(container_id)
    with pytest.raises(SandboxError, match="closed"):
        sb.exec("true")


def test_exec_latency_is_small(sandbox):
    sandbox.exec("true")
    started = time.monotonic()
    for _ in range(5):
        assert sandbox.exec("true").exit_code == 0
    assert (time.monotonic() - started) / 5 < 1.0
