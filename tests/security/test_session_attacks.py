"""Attacks through a persistent shell session and the agent's editor (local backend):
no network or host, nothing outlives the session, no write through a symlink out of the
workspace, floods bounded."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from attack_support import accepted, plain_local_env

from swelego_ray.agent.calls import ToolCall
from swelego_ray.agent.tools import Toolbox
from swelego_ray.sandbox import Limits


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    backend, env = plain_local_env(tmp_path_factory, "session-attacks")
    with backend.start(env, Limits(timeout_s=10, output_bytes=10_000, disk_mb=64)) as sandbox:
        yield sandbox


def _host_processes_with(arg: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if arg.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_session_reaches_no_network_and_no_host_file(box, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    secret = tmp_path / "host-secret.txt"
    secret.write_text("TOP SECRET\n")
    with box.session() as session:
        probe = session.run(
            f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected; "
            f"cat {secret} /etc/shadow /root/.bash_history 2>&1; ls /work /run 2>&1; "
            "echo x > /etc/passwd; echo x > /usr/evil; ip -o link 2>/dev/null | wc -l"
        )
        assert "connected" not in probe.output and "TOP SECRET" not in probe.output
        assert not accepted(server)
        assert "Read-only file system" in probe.output
    server.close()
    assert not Path("/usr/evil").exists()


def test_background_processes_die_with_the_session(box):
    session = box.session()
    session.run("nohup sleep 1000.901 >/dev/null 2>&1 & (setsid sleep 1000.902 &); disown -a")
    deadline = time.monotonic() + 5
    while not (_host_processes_with("1000.901") and _host_processes_with("1000.902")):
        assert time.monotonic() < deadline, "the background processes never started"
        time.sleep(0.05)
    session.close()
    assert not _host_processes_with("1000.901") and not _host_processes_with("1000.902")


def test_editor_cannot_write_through_symlinks_out_of_the_workspace(box):
    with box.session() as session:
        tools = Toolbox(session, idle_s=2.0)
        session.run(
            "ln -s /etc/passwd /testbed/passwd_link; ln -s /etc /testbed/etc_dir; "
            "ln -s /proc/self/root/etc/hosts /testbed/hosts_link"
        )

        def edit(command: str, path: str, **extra: object) -> str:
            args = {"command": command, "path": path, **extra}
            return tools.run(ToolCall(name="str_replace_editor", arguments=args))

        for path in ("/testbed/passwd_link", "/testbed/etc_dir/x.py", "/testbed/../etc/hosts"):
            out = edit("create", path, file_text="pwned\n")
            assert out.startswith("ERROR: Invalid `path` parameter") and "outside" in out, out
        out = edit("str_replace", "/testbed/passwd_link", old_str="root", new_str="pwned")
        assert out.startswith("ERROR:")
        assert edit("view", "/testbed/hosts_link").startswith("ERROR:")
        assert edit("view", "/etc/passwd").startswith("ERROR:")
        assert "pwned" not in session.run("cat /etc/passwd /etc/hosts").output
    assert "pwned" not in Path("/etc/passwd").read_text()


def test_output_floods_are_bounded(box):
    with box.session() as session:
        tools = Toolbox(session, idle_s=2.0, max_chars=3000)
        out = tools.run(
            ToolCall(name="execute_bash", arguments={"command": "yes x | head -c 50000000"})
        )
        assert len(out) < 3500 and "cut" in out
        background = session.run("(yes y | head -c 20000000 &); sleep 0.5; echo done")
        assert len(background.output) <= 10_200
        filled = session.run("head -c 100M /dev/zero > /tmp/fill")
        assert filled.disk_limit and "disk limit (64 MiB) reached" in filled.output
        assert session.run("rm -f /tmp/fill; echo ok").output.endswith("ok\n")
