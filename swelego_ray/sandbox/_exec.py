"""Run one process tree under a deadline, memory, pids and disk limits, with a capped output."""

from __future__ import annotations

import contextlib
import math
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from swelego_ray.sandbox._disk import DiskGuard
from swelego_ray.sandbox._protocol import ExecResult, SandboxError

_OOM_MARKERS = re.compile(
    rb"MemoryError|Cannot allocate memory|std::bad_alloc|[Oo]ut of memory|"
    rb"failed to map segment|cannot allocate"
)


class OutputCap:
    """Keeps the first and last `limit // 2` bytes of a stream and counts what it cut."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.half:  # trim rarely, keep it amortised O(n)
                del self.tail[: len(self.tail) - self.half]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + min(len(self.tail), self.half)

    def text(self) -> str:
        tail = bytes(self.tail[-self.half :])
        if not self.truncated:
            return (bytes(self.head) + tail).decode(errors="replace")
        cut = self.total - len(self.head) - len(tail)
        return (
            bytes(self.head).decode(errors="replace")
            + f"\n[... {cut} bytes of output cut ...]\n"
            + tail.decode(errors="replace")
        )


def limits_prefix(
    memory_mb: int | None, cgroup_procs: list[Path], *, fsize_mb: int | None = None
) -> list[str]:
    """An argv prefix that joins the given cgroups and sets RLIMIT_AS (when `memory_mb`)
    and RLIMIT_FSIZE (when `fsize_mb`: no single file grows past it; writing past it fails
    with EFBIG, or SIGXFSZ kills a process that does not ignore it), then execs the rest.
    A shell, not a preexec_fn, so that Python can spawn with vfork (~50 ms faster from a
    large parent process)."""
    fail = '{ echo "swelego: cannot apply limits"; exit 126; }'
    script = (
        f'for procs in $1; do echo $$ > "$procs" || {fail}; done; '
        f'if [ -n "$2" ]; then ulimit -v "$2" || {fail}; fi; '
        f'if [ -n "$3" ]; then ulimit -f "$3" || {fail}; fi; '
        'shift 3; exec "$@"'
    )
    if any(c.isspace() for p in cgroup_procs for c in str(p)):
        raise SandboxError(f"cgroup paths may not contain spaces: {cgroup_procs}")
    memory_kb = str(memory_mb * 1024) if memory_mb else ""
    fsize_blocks = str(fsize_mb * 2048) if fsize_mb else ""  # POSIX sh: 512-byte blocks
    groups = " ".join(str(p) for p in cgroup_procs)
    return ["/bin/sh", "-c", script, "sh", groups, memory_kb, fsize_blocks]


def run_limited(
    argv: list[str],
    *,
    env: dict[str, str],
    timeout_s: float,
    output_bytes: int,
    preexec: Callable[[], None] | None = None,
    stdin: bytes | None = None,
    cwd: str | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    disk: DiskGuard | None = None,
    settle: Callable[[], object] | None = None,
) -> ExecResult:
    """Run `argv` in its own session; at the deadline SIGKILL its whole process group.
    With `disk`, its trees are checked every `disk.interval_s` while the command runs and
    once after it (after `settle`, which waits for what is left of the process tree to
    die): reaching the limit kills the group and sets `disk_limit`."""
    started = time.monotonic()
    if disk is not None:
        disk.begin()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise SandboxError(f"cannot start {argv[0]}: {err}") from err
    if on_start is not None:
        on_start(proc)
    if stdin is not None:  # fed from a thread: a command may write before it reads
        threading.Thread(target=_feed, args=(proc, stdin), daemon=True).start()
    cap = OutputCap(output_bytes)
    deadline = started + timeout_s
    timed_out = disk_hit = False
    next_check = started + disk.next_interval(0.0) if disk is not None else math.inf
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                kill_group(proc)
                break
            if disk is not None and now >= next_check:
                if disk.check():
                    disk_hit = True
                    kill_group(proc)
                    break
                next_check = time.monotonic() + disk.next_interval(now - started)
            if not selector.select(timeout=min(deadline, next_check, now + 1.0) - now):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            cap.feed(chunk)
    proc.stdout.close()
    try:
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0) + 5)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        code = proc.wait()
    killed = disk_hit
    if settle is not None:
        settle()
    if disk is not None:  # final usage (once all is dead); catches a fast writer, too
        disk_hit = disk.check(force=killed) or killed
    output = cap.text() + (disk.note(killed=killed) if disk is not None and disk_hit else "")
    oom = code != 0 and not timed_out and bool(_OOM_MARKERS.search(bytes(cap.head + cap.tail)))
    return ExecResult(
        exit_code=code if code >= 0 else 128 - code,
        output=output,
        timed_out=timed_out,
        oom=oom and not disk_hit,
        disk_limit=disk_hit,
        truncated=cap.truncated,
        duration_s=round(time.monotonic() - started, 4),
    )


def _feed(proc: subprocess.Popen, data: bytes) -> None:
    """Write `data` to the process's stdin and close it (a process that exits or closes
    its stdin early just stops the feed)."""
    assert proc.stdin is not None
    with contextlib.suppress(OSError):  # BrokenPipeError, or a closed pipe at the deadline
        proc.stdin.write(data)
    with contextlib.suppress(OSError):
        proc.stdin.close()


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group the process leads (its session), ignoring a dead one."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
