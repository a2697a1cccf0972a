"""Parsing a docker exec stream (no engine needed): the trailer, forged markers, the cap."""

from __future__ import annotations

import socket
import time

from swelego_ray.sandbox._docker_exec import StdinFeeder, Watchdog, read_capped, wrapper_argv


def _stream(payload: bytes, size: int) -> list[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)]


def test_trailer_is_split_from_the_output_whatever_the_chunking():
    argv, marker = wrapper_argv("echo hi", 5)
    assert argv[-3] == marker and argv[-4] == "echo hi" and argv[-5] == "5.000"
    assert argv[-1] == "null" and wrapper_argv("cat", 5, stdin=True)[0][-1] == "stdin"
    assert argv[-2] == "" and wrapper_argv("x", 5, fsize_mb=2)[0][-2] == "2048"  # KiB
    payload = b"line 1\nline 2\n" + f"\n{marker} 3 0 1\n".encode()
    for size in (1, 7, 64, 10_000):
        cap, trailer = read_capped(_stream(payload, size), marker, 1000)
        assert cap.text() == "line 1\nline 2\n"
        assert trailer is not None and trailer.exit_code == 3
        assert trailer.oom_killed is True


def test_a_forged_or_missing_trailer_is_not_trusted():
    _, marker = wrapper_argv("x", 1)
    forged = b"__swelego_end_deadbeef 0 0 0\nrest\n"
    cap, trailer = read_capped([forged], marker, 1000)
    assert trailer is None and cap.text() == forged.decode()
    # the real trailer wins even when the output repeats the real marker earlier
    payload = f"\n{marker} 0 0 0\nmore\n\n{marker} 2 x x\n".encode()
    cap, trailer = read_capped(_stream(payload, 5), marker, 1000)
    assert trailer is not None and trailer.exit_code == 2 and trailer.oom_killed is None
    assert cap.text() == f"\n{marker} 0 0 0\nmore\n"


def test_output_cap_counts_only_the_command_output():
    _, marker = wrapper_argv("x", 1)
    body = b"".join(f"{i}\n".encode() for i in range(5000))
    cap, trailer = read_capped(_stream(body + f"\n{marker} 0 0 0\n".encode(), 999), marker, 200)
    assert trailer is not None and cap.truncated and cap.total == len(body)
    text = cap.text()
    assert text.startswith("0\n1\n2\n") and text.endswith("4998\n4999\n")


def test_watchdog_fires_in_order_unless_stopped():
    calls: list[str] = []
    dog = Watchdog(0.05, 0.05, lambda: calls.append("kill"), lambda: calls.append("restart"))
    time.sleep(0.3)
    dog.stop()
    assert dog.fired and calls == ["kill", "restart"]
    quiet = Watchdog(5, 5, lambda: calls.append("late"), lambda: calls.append("late"))
    quiet.stop()
    assert not quiet.fired and "late" not in calls


def test_stdin_feeder_sends_everything_then_end_of_file():
    ours, theirs = socket.socketpair()
    data = bytes(range(256)) * 20_000  # 5 MB, every byte value
    feeder = StdinFeeder(ours, data)
    received = b""
    while chunk := theirs.recv(1 << 16):
        received += chunk
    feeder.stop()
    assert received == data  # and recv returned b"": the write side was half-closed
    ours.close()
    theirs.close()


def test_stdin_feeder_stop_unblocks_a_write_nobody_reads():
    ours, theirs = socket.socketpair()
    feeder = StdinFeeder(ours, b"x" * (20 << 20))  # far more than the socket buffers hold
    time.sleep(0.2)
    started = time.monotonic()
    feeder.stop()
    assert time.monotonic() - started < 5
    assert not feeder._thread.is_alive()
    ours.close()
    theirs.close()
