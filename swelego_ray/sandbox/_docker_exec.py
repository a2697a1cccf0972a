"""One command in a container: deadline, process-group cleanup, OOM evidence, capped output.

`docker exec` cannot be killed through the API, so the deadline is enforced twice: inside,
the command runs under `timeout -s KILL` in its own process group, and when it ends every
other process in the container but PID 1 is killed (nothing it started outlives it, not
even a `setsid` daemon; commands in a sandbox run one at a time); outside, a host watchdog
kills them from another exec (then restarts the container) if the stream is still open
after the deadline plus a grace period.

The wrapper ends the stream with a trailer (exit code, cgroup oom_kill counter before and
after) behind a random marker; it is written last, after every other process is dead, so
no output can pose as it.

Disk: the wrapper sets RLIMIT_FSIZE (no single file past Limits.disk_mb) and a
DiskWatchdog measures the container's writes while the command runs (see docker.py).

Standard input is the exec's attached stdin when the caller gives bytes (StdinFeeder
writes them from a thread while the output is read, then half-closes the socket: the
command sees end of file), else /dev/null.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from swelego_ray.sandbox._disk import DiskGuard
from swelego_ray.sandbox._exec import OutputCap

WRAPPER = r"""
exec 2>/dev/null  # the command's stderr goes to stdout; silence job-control notes
if [ "$5" = stdin ]; then exec 3<&0; else exec 3</dev/null; fi  # `&` alone gives /dev/null
if [ -n "$4" ]; then ulimit -f "$4" || exit 126; fi  # RLIMIT_FSIZE (KiB), soft and hard
oom() { sed -n 's/^oom_kill //p' /sys/fs/cgroup/memory/memory.oom_control \
  /sys/fs/cgroup/memory.events 2>/dev/null | head -n1; }
before=$(oom)
timeout -s KILL "$1" bash -c "$2" <&3 3<&- 2>&1 &
pid=$!
exec 3<&-
[ "$5" = stdin ] || exec 0</dev/null
wait "$pid"; rc=$?
kill -KILL -1  # every process but PID 1 and this shell: nothing outlives the command
# read what the command left of its input: an engine that closes the exec with input
# still pending resets the connection, and the output in flight is lost with it
if [ "$5" = stdin ]; then timeout -s KILL 60 cat >/dev/null; exec 0</dev/null; fi
after=$(oom)
printf '\n%s %s %s %s\n' "$3" "$rc" "${before:-x}" "${after:-x}"
"""
_HOLD_BACK = 160  # the trailer is shorter; hold back this many bytes until the end


@dataclass
class Trailer:
    exit_code: int
    oom_before: int | None
    oom_after: int | None

    @property
    def oom_killed(self) -> bool | None:
        if self.oom_before is None or self.oom_after is None:
            return None
        return self.oom_after > self.oom_before


def wrapper_argv(
    command: str, timeout_s: float, *, stdin: bool = False, fsize_mb: int | None = None
) -> tuple[list[str], str]:
    """(argv for `docker exec`, the random marker its trailer starts with); with `stdin`
    the command reads the exec's attached stdin, else /dev/null; with `fsize_mb` no file
    it writes grows past that (EFBIG, or SIGXFSZ)."""
    marker = f"__swelego_end_{uuid.uuid4().hex}"
    mode = "stdin" if stdin else "null"
    fsize = str(fsize_mb * 1024) if fsize_mb else ""  # bash's ulimit -f counts KiB
    argv = ["bash", "-c", WRAPPER, "swelego-exec", f"{timeout_s:.3f}", command, marker, fsize]
    return [*argv, mode], marker


def read_capped(
    chunks: Iterable[bytes], marker: str, limit: int
) -> tuple[OutputCap, Trailer | None]:
    """Consume the exec stream: output into a head+tail cap, the trailer parsed apart."""
    cap = OutputCap(limit)
    pending = b""
    for chunk in chunks:
        pending += chunk
        if len(pending) > _HOLD_BACK:
            cap.feed(pending[:-_HOLD_BACK])
            pending = pending[-_HOLD_BACK:]
    head, sep, rest = pending.rpartition(b"\n" + marker.encode() + b" ")
    if not sep:
        cap.feed(pending)
        return cap, None
    cap.feed(head)
    fields = rest.split()
    numbers = [int(f) if re.fullmatch(rb"\d+", f) else None for f in fields[:3]]
    numbers += [None] * (3 - len(numbers))
    code = numbers[0] if numbers[0] is not None else -1
    return cap, Trailer(code, numbers[1], numbers[2])


class Watchdog:
    """Calls `first` after `deadline_s` unless stopped, then `second` after `grace_s` more."""

    def __init__(
        self,
        deadline_s: float,
        grace_s: float,
        first: Callable[[], None],
        second: Callable[[], None],
    ) -> None:
        self.fired = False
        self._done = threading.Event()
        self._steps = (first, second)
        self._deadline_s, self._grace_s = deadline_s, grace_s
        self._thread = threading.Thread(target=self._run, daemon=True, name="swelego-watchdog")
        self.started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        if self._done.wait(self._deadline_s):
            return
        self.fired = True
        self._steps[0]()
        if self._done.wait(self._grace_s):
            return
        self._steps[1]()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=60)


class DiskWatchdog:
    """Checks `guard` from a thread while an exec runs (after 0.02 s, then at doubling
    intervals up to `guard.interval_s`), calling `kill` once when the command grew the
    sandbox's writes to the limit. `stop` measures once more and says whether the limit
    was hit (a command that wrote fast and ended between checks included)."""

    def __init__(self, guard: DiskGuard, kill: Callable[[], None]) -> None:
        self.guard, self._kill = guard, kill
        self.fired = False
        guard.begin()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="swelego-disk")
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._done.wait(self.guard.next_interval(time.monotonic() - started)):
            if self.guard.check():
                self.fired = True
                self._kill()
                return

    def stop(self) -> bool:
        """End the checks; True when the limit was hit."""
        self._done.set()
        self._thread.join(timeout=60)
        return self.guard.check(force=self.fired) or self.fired


class StdinFeeder:
    """Writes `data` to an exec's hijacked socket from a thread, then half-closes it (the
    command reads end of file). A command that exits without reading it all just ends the
    write (like a closed pipe); `stop` unblocks a write still pending."""

    def __init__(self, sock: object, data: bytes) -> None:
        self._sock: socket.socket = getattr(sock, "_sock", sock)  # SocketIO wraps the socket
        self._data = data
        self._thread = threading.Thread(target=self._run, daemon=True, name="swelego-stdin")
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(self._data)
            self._sock.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=60)
