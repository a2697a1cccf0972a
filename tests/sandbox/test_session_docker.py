"""A persistent shell session in a docker sandbox (podman's Docker-API service)."""

from __future__ import annotations

import pytest
from docker_fixtures import docker_backend, tiny_env  # noqa: F401

from swelego_ray.sandbox import Limits, SandboxError

pytestmark = pytest.mark.docker


def test_docker_session_keeps_state_times_out_and_cleans_up(docker_backend, tiny_env):  # noqa: F811
    limits = Limits(timeout_s=30, memory_mb=512, output_bytes=4000)
    with docker_backend.start(tiny_env, limits) as sandbox:
        session = sandbox.session(idle_s=2.0)
        with pytest.raises(SandboxError, match="open shell session"):
            sandbox.exec("true")
        assert session.run("cd src; export A=1; sleep 1000.5 &").exit_code == 0
        state = session.run('pwd; echo "$A $TINY_VAR"; python -c "import tinypkg"')
        assert state.output.split() == ["/testbed/src", "1", "42"] and state.exit_code == 0
        slow = session.run("echo a; sleep 5; echo b", timeout_s=0.5)
        assert slow.running and slow.output == "a\n"
        assert session.interrupt().exit_code == 130
        assert session.run("read x; echo got $x", timeout_s=0.3).running
        assert session.send_input("hi").output == "got hi\n"
        flood = session.run("yes | head -c 100000")
        assert flood.truncated and len(flood.output) < 4200
        assert session.put_file("/testbed/n.txt", "x'y\n").exit_code == 0
        assert session.aux('cat -- "$1"', ["/testbed/n.txt"]).output == "x'y\n"
        hung = session.run("sleep 1000.7", hard_timeout_s=1.0)
        assert hung.timed_out and hung.exit_code == 137
        assert session.run("ping -c1 -W1 1.1.1.1 || echo offline").output.endswith("offline\n")
        session.close()
        left = sandbox.exec("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
        assert "1000.5" not in left.output and "1000.7" not in left.output
        assert sandbox.read_file("n.txt") == "x'y\n"
