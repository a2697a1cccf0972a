"""Attack: fill the host disk from a sandbox (one sandbox once wrote 4 GiB into /tmp and
/testbed). Contained by Limits.disk_mb on both backends: the command is stopped, the
result says `disk_limit`, grading labels it `disk_limit`, and after close the host's disk
holds nothing of it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from attack_support import plain_local_env
from docker_fixtures import docker_backend, two_commit_env  # noqa: F401

from swelego_ray.envs import EnvBackend, Environment, backends
from swelego_ray.grading import InfraFailure, TestRun, read_run
from swelego_ray.sandbox import Limits
from swelego_ray.sandbox._disk import DiskGuard, tree_usage

LIMIT_MB = 64
# one file far past the limit (RLIMIT_FSIZE stops it at the limit)
ONE_BIG_FILE = "head -c 300M /dev/zero > {dir}/big"
# many files each below the limit, written slowly: only the watchdog can stop these
MANY_FILES = "i=0; while :; do i=$((i+1)); head -c 4M /dev/zero > {dir}/f$i; sleep 0.02; done"
# many files written fast, ending before the first check: caught by the check after it
FAST_FILES = "for i in $(seq 40); do head -c 4M /dev/zero > {dir}/g$i; done; echo done"
ATTACKS = [ONE_BIG_FILE, MANY_FILES, FAST_FILES]


@pytest.fixture(scope="module")
def local_env(tmp_path_factory) -> tuple[EnvBackend, Environment]:
    return plain_local_env(tmp_path_factory, "disk")


def _host_usage(backend: EnvBackend) -> int:
    """What the backend's cache holds on the host (the disk's free space is no measure:
    other jobs write to it too)."""
    return tree_usage(backend.cache_root)


def _assert_stopped(result, attack: str, limit_mb: int = LIMIT_MB) -> None:
    assert result.disk_limit and not result.timed_out, result
    assert f"disk limit ({limit_mb} MiB) reached" in result.output
    if attack == MANY_FILES:  # the watchdog killed it
        assert result.exit_code != 0 and "[killed: disk limit" in result.output, result


@pytest.mark.parametrize("mode", ["overlay", "copy"])
@pytest.mark.parametrize("where", ["/tmp", "/testbed"])
@pytest.mark.parametrize("attack", ATTACKS, ids=["one-big-file", "many-files", "fast-files"])
def test_local_writes_past_the_limit_are_stopped(local_env, mode, where, attack):
    backend, env = local_env
    if mode == "copy":
        backend = backends.local_backend(cache_root=backend.cache_root, workspace="copy")
    before = _host_usage(backend)
    sb = backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60))
    root = sb.root
    result = sb.exec(attack.format(dir=where))
    _assert_stopped(result, attack)
    assert result.duration_s < 20
    assert sb.exec("echo still usable").output == "still usable\n"
    assert read_run(_run_of(result), "pytest").problem is InfraFailure.DISK
    sb.close()
    assert not root.exists()
    assert _host_usage(backend) < before + (1 << 20)


def test_local_single_file_stops_with_efbig_at_the_limit(local_env):
    backend, env = local_env
    with backend.start(env, Limits(disk_mb=LIMIT_MB)) as sb:
        probe = (
            "import errno\ntry:\n    open('/tmp/x', 'wb').write(bytes(100 << 20))\n"
            "except OSError as e:\n    print('errno', errno.errorcode[e.errno]); raise\n"
        )
        result = sb.exec(f'python3 -c "{probe}"')
        assert "errno EFBIG" in result.output and result.disk_limit, result
        assert os.path.getsize(sb.root / "tmp" / "x") <= LIMIT_MB << 20


def test_local_writes_under_the_limit_are_untouched(local_env):
    backend, env = local_env
    with backend.start(env, Limits(disk_mb=LIMIT_MB)) as sb:
        result = sb.exec("head -c 20M /dev/zero > /tmp/a && head -c 20M /dev/zero > b && ls")
        assert result.exit_code == 0 and not result.disk_limit, result
        # freeing space makes room again: the limit is on what is held, not what was written
        assert not sb.exec("rm /tmp/a b && head -c 40M /dev/zero > /tmp/c").disk_limit


def test_kept_start_state_is_not_counted(local_env):
    from swelego_ray.sandbox import StartState

    backend, env = local_env

    def prepare(sb) -> str:
        sb.exec("head -c 50M /dev/zero > state.bin")
        return "ok"

    state = StartState(key=f"disk-state-{time.time_ns()}", prepare=prepare, commit=None)
    first, _ = backend.start_prepared(env, state, Limits(disk_mb=LIMIT_MB))
    first.close()
    sb, _ = backend.start_prepared(env, state, Limits(disk_mb=LIMIT_MB))
    with sb:
        assert not sb.exec("ls -l state.bin && head -c 40M /dev/zero > /tmp/x").disk_limit


def test_tree_usage_counts_blocks_once_per_inode(tmp_path: Path):
    (tmp_path / "a").write_bytes(bytes(1 << 20))
    os.link(tmp_path / "a", tmp_path / "b")  # a hard link holds no more blocks
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(1 << 30)  # 1 GiB apparent size, nothing allocated
    used = tree_usage(tmp_path)
    assert (1 << 20) <= used < (1 << 20) + 3 * 8192
    guard = DiskGuard([tmp_path], 1)
    assert guard.check() and guard.last == used  # 1 MiB written reaches a 1 MiB limit
    guard.rebaseline()
    assert not guard.check() and guard.last == 0


def test_guard_walks_only_when_the_limit_may_be_reached(tmp_path: Path):
    guard = DiskGuard([tmp_path], 64, max_stale_s=3600, cheap_walk_s=0)
    guard.rebaseline()
    walks = guard.walks
    (tmp_path / "small").write_bytes(bytes(1 << 20))  # far below the room left
    assert not guard.check() and guard.walks == walks  # statvfs said: no need to walk
    (tmp_path / "big").write_bytes(bytes(64 << 20))
    assert guard.check() and guard.walks == walks + 1 and guard.last >= 65 << 20
    stale = DiskGuard([tmp_path], 64, max_stale_s=0, cheap_walk_s=0)
    stale.check()
    assert stale.check() is True and stale.walks == 2  # a stale count is walked again
    cheap = DiskGuard([tmp_path], 64, max_stale_s=3600)  # a small tree: walked every time
    cheap.check()
    assert cheap.check() and cheap.walks == 2


def _run_of(result) -> TestRun:
    return TestRun(
        nonce="n",
        output=result.output,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        oom=result.oom,
        disk_limit=result.disk_limit,
        truncated=result.truncated,
    )


@pytest.mark.docker
@pytest.mark.parametrize("where", ["/tmp", "/testbed"])
@pytest.mark.parametrize("attack", ATTACKS, ids=["one-big-file", "many-files", "fast-files"])
def test_docker_writes_past_the_limit_are_stopped(docker_backend, two_commit_env, where, attack):  # noqa: F811
    env, _shas = two_commit_env
    sb = docker_backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60))
    try:
        layers = list(sb.disk.roots)
        assert layers, "podman runs here: the container's upper layer is walked from the host"
        result = sb.exec(attack.format(dir=where))
        _assert_stopped(result, attack)
        assert result.duration_s < 20
        assert sb.exec("echo still usable").output == "still usable\n"
        assert read_run(_run_of(result), "pytest").problem is InfraFailure.DISK
        assert sum(tree_usage(layer) for layer in layers) > LIMIT_MB << 20
    finally:
        sb.close()
    assert not any(layer.exists() for layer in layers)  # the engine removed what it wrote


@pytest.mark.docker
def test_docker_writes_under_the_limit_are_untouched(docker_backend, two_commit_env):  # noqa: F811
    env, shas = two_commit_env
    with docker_backend.start(env, Limits(disk_mb=LIMIT_MB), commit=shas[0]) as sb:
        # the checkout of another commit is set-up, not counted
        result = sb.exec("head -c 20M /dev/zero > /tmp/a && head -c 20M /dev/zero > b && ls")
        assert result.exit_code == 0 and not result.disk_limit, result
        assert not sb.exec("rm /tmp/a b && head -c 40M /dev/zero > /tmp/c").disk_limit
        # one file past the limit: stopped by SIGXFSZ at the limit (rc 153), or by the
        # watchdog when it sees the file over the limit first (a race: either is right)
        efbig = sb.exec("rm /tmp/c; head -c 100M /dev/zero > /tmp/d; echo rc=$?")
        assert efbig.disk_limit and "rc=0" not in efbig.output, efbig
