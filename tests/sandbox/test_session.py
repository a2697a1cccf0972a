"""Persistent shell sessions on the local backend (real bubblewrap)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from swelego_ray.sandbox import Limits, SandboxError, SessionBusy, bash_quote


@pytest.fixture(scope="module")
def box(local_backend, plain_env):
    with local_backend.start(plain_env, Limits(timeout_s=20, output_bytes=4000)) as sb:
        yield sb


@pytest.fixture
def session(box):
    with box.session(idle_s=2.0) as s:
        yield s


def test_bash_quote_keeps_every_byte_on_one_line():
    quoted = bash_quote("a'b\\c\n\t$x `y` üñ")
    assert "\n" not in quoted and quoted.startswith("$'") and quoted.endswith("'")
    assert "\\x27" in quoted and "\\x5c" in quoted and "\\xc3\\xbc" in quoted


def test_state_survives_between_commands(session):
    first = session.run("cd pkg && export SWELEGO_A=1 && sleep 300 & cd /tmp; X=2")
    assert first.exit_code == 0 and first.cwd == "/tmp"
    result = session.run('pwd; echo "$X"; jobs | wc -l; echo "$SWELEGO_TEST_VAR"')
    assert result.output.split() == ["/tmp", "2", "1", "42"]
    assert session.run("exit_status() { return 3; }; exit_status").exit_code == 3
    assert session.run("printf 'no newline'").output == "no newline"
    assert session.run("echo 'unclosed").exit_code == 2  # a syntax error, not a hang
    heredoc = session.run("cat <<'EOF'\n$HOME is not expanded\nEOF")
    assert heredoc.output == "$HOME is not expanded\n"


def test_soft_timeout_keeps_the_command_running_then_input_and_ctrl_c(session):
    slow = session.run("echo start; sleep 0.6; echo end", timeout_s=0.2)
    assert slow.running and slow.exit_code is None and slow.output == "start\n"
    with pytest.raises(SessionBusy):
        session.run("true")
    rest = session.wait(timeout_s=5)
    assert rest.exit_code == 0 and rest.output == "end\n"
    prompt = session.run("printf 'name: '; read n; echo hello $n", timeout_s=0.3)
    assert prompt.running and prompt.output == "name: "
    assert session.send_input("bob").output == "hello bob\n"
    loop = session.run("while :; do :; done", timeout_s=0.2)
    assert loop.running
    stopped = session.interrupt()
    assert stopped.exit_code == 130 and not stopped.running
    assert session.run("echo alive").output == "alive\n"


def test_idle_timeout_and_hard_limit(session):
    idle = session.run("echo tick; sleep 30", idle_s=0.3, hard_timeout_s=1.5)
    assert idle.running and idle.idle and idle.output == "tick\n"
    started = time.monotonic()
    killed = session.wait(timeout_s=30)  # the hard limit counts from the command's start
    assert killed.timed_out and killed.exit_code == 137 and killed.restarted is None
    assert time.monotonic() - started < 3
    hung = session.run("trap '' INT; while :; do :; done", hard_timeout_s=0.5)
    assert hung.timed_out and hung.restarted and "new shell" in hung.restarted
    assert session.run("echo fresh").output == "fresh\n"


def test_exit_restarts_the_shell_and_output_is_capped(session):
    session.run("cd /tmp")
    gone = session.run("exit 3")
    assert gone.restarted and gone.cwd == "/testbed"
    session.run("(sleep 0.2; kill -KILL $$) &")  # the shell dies between two commands
    time.sleep(0.6)
    back = session.run("echo back")
    assert back.output == "back\n" and back.restarted and "died" in back.restarted
    flood = session.run("yes | head -c 200000")
    assert flood.truncated and "bytes of output cut" in flood.output
    assert len(flood.output) < 4200


def test_exec_refused_while_open_and_files_coherent(box):
    session = box.session()
    try:
        with pytest.raises(SandboxError, match="open shell session"):
            box.exec("true")
        assert session.put_file("/testbed/new.txt", "a'b\\c\nü\n").exit_code == 0
        denied = session.put_file("/proc/version", "echo INJECTED\n")  # the write fails ...
        assert denied.exit_code != 0 and denied.output
        assert "INJECTED" not in session.aux("echo ok").output  # ... and nothing ran
        assert session.run("cat new.txt").output == "a'b\\c\nü\n"
        assert session.aux('cat -- "$1"', ["/testbed/new.txt"]).output == "a'b\\c\nü\n"
    finally:
        session.close()
    assert box.read_file("new.txt") == "a'b\\c\nü\n"  # usable again, sees the session's writes
    box.exec("rm new.txt")


def test_close_from_another_thread_ends_a_waiting_call(box):
    session = box.session()
    threading.Timer(0.3, session.close).start()
    started = time.monotonic()
    with pytest.raises(SandboxError, match="closed"):
        session.run("sleep 30", timeout_s=20)
    assert time.monotonic() - started < 5


def test_close_kills_background_processes(box):
    session = box.session()
    session.run("sleep 1000.123 & disown; (setsid sleep 1000.124 &)")
    session.close()
    session.close()  # twice is fine
    with pytest.raises(SandboxError, match="closed"):
        session.run("true")
    assert not _host_processes_with("1000.123") and not _host_processes_with("1000.124")


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
