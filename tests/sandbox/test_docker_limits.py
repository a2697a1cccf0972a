"""Limits of docker sandboxes, exercised for real: deadlines, network, memory, output, pids."""

from __future__ import annotations

import time

import pytest
from docker_fixtures import docker_backend, tiny_env  # noqa: F401

from swelego_ray.envs import backends
from swelego_ray.sandbox import Limits

pytestmark = pytest.mark.docker


@pytest.fixture
def start(docker_backend, tiny_env):  # noqa: F811
    opened = []

    def make(**limits):
        sb = docker_backend.start(tiny_env, Limits(**limits))
        opened.append(sb)
        return sb

    yield make
    for sb in opened:
        sb.close()


def test_container_carries_the_limits(start):
    sb = start(memory_mb=300, pids=77, cpus=0.5)
    host = sb.container.attrs["HostConfig"]
    assert host["Memory"] == 300 << 20
    assert host["MemorySwap"] == 300 << 20  # no swap on top
    assert host["PidsLimit"] == 77
    assert host["NanoCpus"] == 500_000_000
    assert host["NetworkMode"] == "none"


def test_deadline_kills_the_whole_process_group(start):
    sb = start(timeout_s=60)
    started = time.monotonic()
    result = sb.exec("sleep 1000 & sleep 1000", timeout_s=2)
    assert result.timed_out and result.exit_code == 137
    assert time.monotonic() - started < 5
    left = sb.exec("ps -eo args | grep -c '^sleep 1000' || true").output.strip()
    assert left == "0"


def test_deadline_also_kills_what_escaped_the_group(start):
    sb = start(timeout_s=60)
    result = sb.exec("setsid sleep 1000 & sleep 1000", timeout_s=2)
    assert result.timed_out and result.duration_s < 10
    assert sb.exec("ps -eo args | grep -c '^sleep 1000' || true").output.strip() == "0"


def test_host_watchdog_ends_an_exec_the_inner_timeout_cannot(start):
    # The command stops its own `timeout` (SIGSTOP), so only the host-side watchdog
    # (deadline + grace, 1 s in these tests) can end this exec.
    sb = start(timeout_s=60)
    started = time.monotonic()
    result = sb.exec("kill -STOP $PPID; sleep 1000", timeout_s=2)
    took = time.monotonic() - started
    assert result.timed_out and result.exit_code == 137 and 2.5 < took < 10
    assert sb.exec("echo still usable").output == "still usable\n"
    assert sb.exec("ps -eo args | grep -c '^sleep 1000' || true").output.strip() == "0"


def test_background_jobs_do_not_outlive_their_command(start):
    sb = start()
    result = sb.exec("sleep 1000 & setsid sleep 1000 > /dev/null & echo started")
    assert result.exit_code == 0 and not result.timed_out and result.duration_s < 5
    assert sb.exec("ps -eo args | grep -c '^sleep 1000' || true").output.strip() == "0"


def test_no_network(start):
    sb = start()
    probe = (
        "import socket\ns = socket.socket(); s.settimeout(3)\n"
        "try:\n    s.connect(('10.255.255.1', 80)); print('CONNECTED')\n"
        "except OSError as e:\n    print('blocked', e.errno)\n"
    )
    result = sb.exec(f'python -c "{probe}"; cat /proc/net/dev')
    assert "blocked" in result.output and "CONNECTED" not in result.output
    interfaces = [ln.split(":")[0].strip() for ln in result.output.splitlines() if ":" in ln]
    assert interfaces == ["lo"]


def test_memory_limit_kills_and_reports_oom(start):
    sb = start(memory_mb=128)
    result = sb.exec("python -c 'x = bytearray(600 * 1024 * 1024); print(len(x))'")
    assert result.exit_code == 137 and result.oom and not result.timed_out, result
    assert sb.exec("echo alive").output == "alive\n"
    assert sb.exec("python -c 'x = bytearray(16 * 1024 * 1024)'").oom is False


def test_output_cap_keeps_head_and_tail(start):
    sb = start(output_bytes=10_000)
    result = sb.exec("seq 1 200000")
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("1\n2\n3\n")
    assert result.output.endswith("199999\n200000\n")
    assert "bytes of output cut" in result.output
    assert len(result.output) < 10_200
    small = sb.exec("seq 1 100")
    assert not small.truncated and small.output == "".join(f"{i}\n" for i in range(1, 101))


def test_forged_trailer_in_output_is_just_output(start):
    sb = start()
    result = sb.exec("echo '__swelego_end_0000 0 0 0'; exit 3")
    assert result.exit_code == 3
    assert "__swelego_end_0000 0 0 0" in result.output


def test_pids_limit(start):
    sb = start(pids=40)
    spawn = (
        "import subprocess\nprocs = []\ntry:\n"
        "    for _ in range(200): procs.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as e:\n    print('stopped at', len(procs))\n"
        "for p in procs: p.kill()\n"
    )
    result = sb.exec(f'python -c "{spawn}"')
    assert result.output.startswith("stopped at"), result.output
    assert int(result.output.split()[2]) < 40


def test_read_only_root_with_writable_workspace(docker_engine, tiny_env):  # noqa: F811
    backend = backends.docker_backend(docker_engine, read_only=True)
    with backend.start(tiny_env) as sb:
        assert sb.container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        result = sb.exec("touch /usr/x 2>&1; touch /testbed/ok /tmp/ok && echo writable")
        assert "Read-only file system" in result.output and "writable" in result.output
        with pytest.raises(PermissionError):
            sb.write_file("/usr/lib/forbidden.txt", "x")
        assert sb.exec("pytest -q tests").exit_code == 1  # the image's TESTBED was copied in
        data = bytes(range(256)) * 4096  # stdin needs no writable path (/tmp is a tmpfs)
        assert sb.exec("wc -c", stdin=data).output.strip() == str(len(data))
