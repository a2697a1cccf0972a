"""A persistent shell in a sandbox: one long-lived bash per session (not a sandbox per
command), with the semantics of OpenHands' execute_bash.

The backend starts, inside the sandbox and under its isolation and limits, two shells
that share its filesystem view and pid namespace (a `ShellProcess`):
- the main shell, an interactive bash (`--noediting -i` on pipes: no echo, no job
  control) whose working directory, variables and background jobs survive between
  commands. Each command goes as one line, `__swelego_n=<nonce>; eval $'<command>'`, so
  no text (an unclosed quote, a heredoc) can desynchronise the stream; the prompt hook
  then prints `\\n__swelego_<nonce>_B__ <exit code> <shell pid> <cwd> __swelego_<nonce>_E__`,
  which ends the command's output. The nonce is drawn per command, so earlier output
  cannot pose as the marker. Text sent with `send_input` goes to the running command's
  standard input (the shell reads its script one byte at a time from the same pipe).
- an auxiliary shell for what must not wait for the main one: interrupting its command
  (SIGINT to the main shell and its descendants: background jobs of a shell without job
  control ignore SIGINT, as in a terminal), killing it at the hard limit, reading and
  writing files for the editor (`aux`).

A command that outlives its soft timeout (`timeout_s`, or `idle_s` without new output)
returns what it printed so far with `running=True` and keeps running; `wait`,
`send_input` and `interrupt` go on with it. At its hard limit its process tree is
killed; a command that does not end then (a loop in the shell itself) costs the
session: everything in it is killed and a fresh shell starts (`restarted` says so).
A shell that exits (`exit`) is restarted the same way. The disk limit is watched while
the session lives; reaching it kills everything in the session.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from swelego_ray.sandbox._disk import DiskGuard
from swelego_ray.sandbox._exec import OutputCap
from swelego_ray.sandbox._protocol import ExecResult, Limits, SandboxError

_UNSAFE = re.compile(rb"[^\x20-\x26\x28-\x5b\x5d-\x7e]")  # all but printable ASCII, ' and \
_STARTUP_S = 30.0
# An interactive bash without a terminal says this after a job died of a signal: noise.
_TTY_NOISE = re.compile(
    r"^bash: \[\d+: \d+ \(\d+\)\] tcsetattr: Inappropriate ioctl for device\n", re.M
)
_KILL_WAIT_S = 1.0

# Sent once to a fresh main shell: no history expansion or job control, empty prompts,
# the prompt hook that prints the end marker of every command.
MAIN_BOOTSTRAP = (
    "set +H +m +o history; unset HISTFILE; PS1=; PS2=; PS0=; "
    "__swelego_prompt() { local rc=$?; "
    "printf '\\n__swelego_%s_B__ %s %s %s __swelego_%s_E__\\n' "
    '"$__swelego_n" "$rc" "$$" "$PWD" "$__swelego_n"; }; '
    "PROMPT_COMMAND=__swelego_prompt\n"
)
# The auxiliary shell's one function: run a script under a deadline, its output framed.
AUX_BOOTSTRAP = (
    "__swelego_aux() { local n=$1 t=$2 s=$3; shift 3; "
    'timeout -s KILL "$t" bash -c "$s" swelego "$@" </dev/null 2>&1; '
    'printf \'\\n__swelego_%s_B__ %s __swelego_%s_E__\\n\' "$n" "$?" "$n"; }; '
    # the request line is followed by exactly $3 bytes of content; they are always all
    # read (a failed write drains the rest), so no content is ever read as a command
    "__swelego_put() { local n=$1; "
    'head -c "$3" | { cat > "$2"; rc=$?; [ $rc = 0 ] || cat > /dev/null; exit $rc; } 2>&1; '
    'printf \'\\n__swelego_%s_B__ %s __swelego_%s_E__\\n\' "$n" "$?" "$n"; }\n'
)
# Signals the main shell's descendants (and, for SIGINT, the shell itself: an
# interactive bash then abandons the current line, loops in the shell included).
SIGNAL_TREE = r"""
sig=$1 root=$2 self=$3
declare -A parent
for stat in /proc/[0-9]*/stat; do
  read -r line < "$stat" 2>/dev/null || continue
  pid=${stat#/proc/}; pid=${pid%/stat}; rest=${line##*) }; set -- $rest
  parent[$pid]=$2
done
todo=("$root"); found=()
while ((${#todo[@]})); do
  cur=${todo[0]}; todo=("${todo[@]:1}")
  for pid in "${!parent[@]}"; do
    [[ ${parent[$pid]} == "$cur" ]] && { found+=("$pid"); todo+=("$pid"); }
  done
done
[ "$self" = yes ] && found+=("$root")
((${#found[@]})) && kill "-$sig" "${found[@]}" 2>/dev/null
exit 0
"""


def bash_quote(text: str) -> str:
    """`text` as one bash word on one line: `$'...'` with every byte that is not
    printable ASCII (newlines, quotes, UTF-8) escaped as \\xHH."""
    data = _UNSAFE.sub(lambda m: b"\\x%02x" % m[0][0], text.encode())
    return "$'" + data.decode("ascii") + "'"


class SessionResult(BaseModel):
    """What a session call saw: a finished command (`exit_code`), or one still running
    past its soft timeout (`running`, `exit_code` None)."""

    model_config = ConfigDict(extra="forbid")

    output: str
    exit_code: int | None = None
    running: bool = False
    idle: bool = False  # running, stopped waiting after `idle_s` without new output
    waited_s: float = 0.0  # how long this call waited for output
    timed_out: bool = False  # killed at the hard per-command limit
    oom: bool = False
    disk_limit: bool = False
    truncated: bool = False
    cwd: str | None = None
    restarted: str | None = None  # why the shell was replaced (exit, hard kill, disk)


class SessionBusy(SandboxError):
    """A new command was sent while the previous one still runs."""


class Channel(Protocol):
    """One byte stream to and from a shell in the sandbox."""

    def send(self, data: bytes) -> None: ...

    def receive(self, timeout_s: float) -> bytes | None:
        """Bytes read within `timeout_s` (b"" if none), None at end of stream."""
        ...

    def close(self) -> None: ...


class FdChannel:
    """A channel over file descriptors (pipes, or a socket with `demux`)."""

    def __init__(
        self,
        read_fd: int,
        write: Callable[[bytes], None],
        closers: list[Callable[[], None]],
        demux: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.read_fd, self._write, self._closers, self._demux = read_fd, write, closers, demux
        self._selector = selectors.DefaultSelector()
        self._selector.register(read_fd, selectors.EVENT_READ)
        self._eof = False

    def send(self, data: bytes) -> None:
        try:
            self._write(data)
        except OSError as exc:
            raise SandboxError(f"the session's shell is gone: {exc}") from exc

    def receive(self, timeout_s: float) -> bytes | None:
        if self._eof:
            return None
        if not self._selector.select(timeout=max(timeout_s, 0.0)):
            return b""
        try:
            chunk = _read(self.read_fd)
        except OSError:
            chunk = b""
            self._eof = True
        if not chunk:
            self._eof = True
            return None
        return self._demux(chunk) if self._demux is not None else chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._selector.close()
        for close in self._closers:
            with contextlib.suppress(Exception):
                close()


def _read(fd: int) -> bytes:
    return os.read(fd, 65536)


class FrameDemux:
    """The Docker API's multiplexed exec stream (8-byte headers) back to plain bytes."""

    def __init__(self) -> None:
        self._buf = b""

    def __call__(self, chunk: bytes) -> bytes:
        self._buf += chunk
        out = bytearray()
        while len(self._buf) >= 8:
            size = int.from_bytes(self._buf[4:8], "big")
            if len(self._buf) < 8 + size:
                break
            out += self._buf[8 : 8 + size]
            self._buf = self._buf[8 + size :]
        return bytes(out)


@dataclass
class ShellProcess:
    """The two shells a backend started for one session, and how to stop them."""

    main: Channel
    aux: Channel
    kill_all: Callable[[], None]  # every process of the session
    oom_kills: Callable[[], int] = lambda: 0
    main_pid: int = 0  # inside the sandbox (set from the first prompt)


@dataclass
class _Marker:
    """Finds `<B> fields <E>\\n` in a stream; feeds what comes before it into `cap`. The
    shells print a newline before <B>: `text()` drops it."""

    nonce: str
    cap: OutputCap
    pending: bytes = b""
    fields: list[str] | None = None
    begin: bytes = field(init=False)
    end: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.begin = f"__swelego_{self.nonce}_B__ ".encode()
        self.end = f" __swelego_{self.nonce}_E__\n".encode()

    def feed(self, chunk: bytes) -> bool:
        """True once the marker is complete."""
        self.pending += chunk
        at = self.pending.find(self.begin)
        if at < 0:
            keep = len(self.begin) - 1
            if len(self.pending) > keep:
                self.cap.feed(self.pending[:-keep])
                self.pending = self.pending[-keep:]
            return False
        stop = self.pending.find(self.end, at)
        if stop < 0:
            return False
        self.cap.feed(self.pending[:at])
        self.fields = (
            self.pending[at + len(self.begin) : stop].decode(errors="replace").split(" ", 2)
        )
        self.pending = self.pending[stop + len(self.end) :]
        return True

    def release(self) -> None:
        """Give the cap what cannot start the marker (a prompt waiting for input shows)."""
        at = self.pending.find(self.begin)
        if at >= 0:
            self.cap.feed(self.pending[:at])
            self.pending = self.pending[at:]
            return
        keep = next(
            (
                k
                for k in range(min(len(self.pending), len(self.begin) - 1), 0, -1)
                if self.begin.startswith(self.pending[-k:])
            ),
            0,
        )
        self.cap.feed(self.pending[: len(self.pending) - keep])
        self.pending = self.pending[len(self.pending) - keep :]

    def text(self) -> str:
        """The output before the marker, without the newline the shell put before it."""
        text = self.cap.text()
        return text[:-1] if self.fields is not None and text.endswith("\n") else text

    def flush(self) -> None:
        """Give the cap everything held back (the marker did not come)."""
        self.cap.feed(self.pending)
        self.pending = b""


class ShellSession:
    """A persistent bash in one sandbox (see the module docstring). One caller at a time."""

    def __init__(
        self,
        spawn: Callable[[], ShellProcess],
        limits: Limits,
        *,
        disk: DiskGuard | None = None,
        idle_s: float = 30.0,
        on_close: Callable[[ShellSession], None] | None = None,
    ) -> None:
        self._spawn, self.limits, self.idle_s = spawn, limits, idle_s
        self._disk, self._on_close = disk, on_close
        self._lock = threading.RLock()
        self._shell: ShellProcess | None = None
        self._marker: _Marker | None = None  # of the running command
        self._hard_deadline = 0.0
        self._hard_s = limits.timeout_s
        self._oom_seen = 0  # the sandbox's OOM-kill count when last read
        self._closed = False
        self._disk_hit = threading.Event()
        self._stop = threading.Event()
        self.cwd = "/testbed"
        self._start_shell()
        if disk is not None:
            threading.Thread(target=self._watch_disk, daemon=True, name="swelego-sdisk").start()

    # -- public -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> bool:
        """Whether a command is still running (past its soft timeout)."""
        return self._marker is not None

    def run(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        idle_s: float | None = None,
        hard_timeout_s: float | None = None,
    ) -> SessionResult:
        """Run `command` in the shell; wait at most `timeout_s` (wall clock) or, without
        it, until `idle_s` pass without new output; then return the output so far with
        `running=True`. `hard_timeout_s` (default Limits.timeout_s) kills it."""
        with self._lock:
            self._check_open()
            if self._marker is not None:
                raise SessionBusy("the previous command is still running")
            note = None
            if self._disk_hit.is_set():  # background processes filled it between commands
                self._disk_hit.clear()
                note = self._restart("the session reached its disk limit and was killed")
            shell = self._live_shell()
            nonce = secrets.token_hex(8)
            marker = _Marker(nonce, OutputCap(self.limits.output_bytes))
            self._hard_s = hard_timeout_s or self.limits.timeout_s
            self._hard_deadline = time.monotonic() + self._hard_s
            if self._disk is not None:
                self._disk.begin()
            line = f"__swelego_n={nonce}; eval {bash_quote(command)}\n".encode()
            disk_note = note is not None
            try:
                shell.main.send(line)
            except SandboxError:  # the shell died since the last command (killed, OOM)
                note = self._restart("the shell had died")
                self._live_shell().main.send(line)
            self._marker = marker
            result = self._collect(timeout_s, idle_s)
            if note is not None and result.restarted is None:
                update: dict[str, object] = {"restarted": note}
                if disk_note:
                    update["disk_limit"] = True
                result = result.model_copy(update=update)
            return result

    def wait(self, timeout_s: float | None = None, idle_s: float | None = None) -> SessionResult:
        """More output of the running command (an empty result when none runs)."""
        with self._lock:
            self._check_open()
            if self._marker is None:
                return SessionResult(output="", exit_code=None, cwd=self.cwd)
            return self._collect(timeout_s, idle_s)

    def send_input(self, text: str, *, timeout_s: float | None = None) -> SessionResult:
        """Send `text` and a newline to the running command's standard input."""
        with self._lock:
            self._check_open()
            if self._marker is None:
                raise SandboxError("no command is running to send input to")
            self._live_shell().main.send(text.encode() + b"\n")
            return self._collect(timeout_s, None if timeout_s else min(self.idle_s, 5.0))

    def interrupt(self, *, timeout_s: float = 5.0) -> SessionResult:
        """Ctrl-C: SIGINT to the running command (and the shell, which abandons the line)."""
        with self._lock:
            self._check_open()
            if self._marker is None:
                raise SandboxError("no command is running to interrupt")
            self._signal_tree("INT", include_shell=True)
            return self._collect(timeout_s, None)

    def aux(
        self, script: str, args: list[str] | None = None, *, timeout_s: float = 30.0
    ) -> ExecResult:
        """Run `script` (bash, with `args` as $1...) beside the main shell, in the same
        sandbox and filesystem view, under its own deadline; stdin is empty."""
        words = " ".join(bash_quote(a) for a in args or [])
        line = f"__swelego_aux {{n}} {timeout_s:.3f} {bash_quote(script)} {words}\n"
        return self._aux_call(line, timeout_s + 5.0)

    def put_file(self, path: str, content: str, *, timeout_s: float = 30.0) -> ExecResult:
        """Write `content` to `path` (as it resolves in the sandbox): its bytes follow the
        request on the auxiliary shell's input (no size limit, ~ms per MB); a failed write
        has a non-zero exit code and the error as output."""
        data = content.encode()
        line = f"__swelego_put {{n}} {bash_quote(path)} {len(data)}\n"
        return self._aux_call(line, timeout_s, data)

    def close(self) -> None:
        """Kill everything the session started; safe to call twice, and from another
        thread while a call waits (that call then raises SandboxError)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        shell = self._shell
        if shell is not None:  # first, without the lock: a waiting call sees the end
            shell.kill_all()
        with self._lock:
            self._stop_shell()
        if self._on_close is not None:
            self._on_close(self)

    def __enter__(self) -> ShellSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the shells -------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the shell session is closed")

    def _start_shell(self) -> None:
        shell = self._spawn()
        try:
            shell.aux.send(AUX_BOOTSTRAP.encode())
            marker = _Marker("boot", OutputCap(1 << 16))
            shell.main.send(MAIN_BOOTSTRAP.encode() + b"__swelego_n=boot; true\n")
            if not self._read_until(shell.main, marker, time.monotonic() + _STARTUP_S):
                raise SandboxError(f"the session's shell did not start: {marker.cap.text()[-500:]}")
            assert marker.fields is not None
            shell.main_pid = int(marker.fields[1])
            self.cwd = marker.fields[2]
            self._oom_seen = shell.oom_kills()
        except BaseException:
            shell.kill_all()
            shell.main.close()
            shell.aux.close()
            raise
        self._shell = shell

    def _stop_shell(self) -> None:
        shell, self._shell, self._marker = self._shell, None, None
        if shell is not None:
            shell.kill_all()
            shell.main.close()
            shell.aux.close()

    def _live_shell(self) -> ShellProcess:
        if self._shell is None:
            self._start_shell()
        assert self._shell is not None
        return self._shell

    def _restart(self, why: str) -> str:
        """Replace the shell; the note the observation carries."""
        self._stop_shell()
        self._check_open()  # closed meanwhile: no new shell
        self._start_shell()
        return (
            f"{why}; a new shell was started in {self.cwd}: the working directory, "
            "environment variables and background processes of the old one are gone"
        )

    @staticmethod
    def _read_until(channel: Channel, marker: _Marker, deadline: float) -> bool:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            chunk = channel.receive(min(left, 1.0))
            if chunk is None:
                return False
            if chunk and marker.feed(chunk):
                return True

    # -- collecting a command's output --------------------------------------------------
    def _collect(self, timeout_s: float | None, idle_s: float | None) -> SessionResult:
        """Read the running command's output until it ends, the soft timeout, or the hard
        limit; reset the cap so that the next call returns only new output."""
        shell, marker = self._live_shell(), self._marker
        assert marker is not None
        started = time.monotonic()
        idle = idle_s if idle_s is not None else (None if timeout_s else self.idle_s)
        soft_end = started + timeout_s if timeout_s else float("inf")
        last_output = started
        while True:
            now = time.monotonic()
            if self._disk_hit.is_set():
                return self._killed_for_disk(marker, now - started)
            if now >= self._hard_deadline:
                return self._hard_kill(marker, now - started)
            wake = min(soft_end, self._hard_deadline, last_output + idle if idle else soft_end)
            if now >= wake:
                return self._still_running(marker, now - started, idle_hit=now < soft_end)
            chunk = shell.main.receive(min(wake - now, 0.25))
            if chunk is None:
                return self._shell_exited(marker, time.monotonic() - started)
            if not chunk:
                continue
            last_output = time.monotonic()
            if marker.feed(chunk):
                return self._finished(marker, time.monotonic() - started)

    def _finished(self, marker: _Marker, waited: float, **extra: object) -> SessionResult:
        assert marker.fields is not None
        code, _pid, cwd = [*marker.fields, "", ""][:3]
        self.cwd = cwd or self.cwd
        self._marker = None
        exit_code = int(code) if code.lstrip("-").isdigit() else -1
        oom = False
        if exit_code == 137 and self._shell is not None:  # killed: by the OOM killer?
            seen, self._oom_seen = self._oom_seen, self._shell.oom_kills()
            oom = self._oom_seen > seen
        output = _TTY_NOISE.sub("", marker.text())
        disk = self._disk
        if disk is not None and not extra.get("disk_limit") and disk.check():
            output += disk.note(killed=False)  # it wrote to the limit and ended between checks
            extra["disk_limit"] = True
            disk.begin()  # reported: the watchdog counts only what is written from now on
        return SessionResult(
            output=output,
            exit_code=exit_code,
            waited_s=round(waited, 4),
            truncated=marker.cap.truncated,
            oom=oom,
            cwd=self.cwd,
            **extra,  # type: ignore[arg-type]
        )

    def _still_running(self, marker: _Marker, waited: float, *, idle_hit: bool) -> SessionResult:
        if self._shell is not None and not self._main_alive(self._shell):
            return self._shell_exited(marker, waited)
        marker.release()
        cap = marker.cap
        marker.cap = OutputCap(self.limits.output_bytes)
        return SessionResult(
            output=_TTY_NOISE.sub("", cap.text()),
            running=True,
            idle=idle_hit,
            waited_s=round(waited, 4),
            truncated=cap.truncated,
            cwd=self.cwd,
        )

    def _shell_exited(self, marker: _Marker, waited: float) -> SessionResult:
        if self._disk_hit.is_set():
            return self._killed_for_disk(marker, waited)
        marker.flush()
        output, truncated = marker.cap.text(), marker.cap.truncated
        note = self._restart("the shell exited")
        return SessionResult(
            output=output,
            exit_code=-1,
            waited_s=round(waited, 4),
            truncated=truncated,
            cwd=self.cwd,
            restarted=note,
        )

    def _hard_kill(self, marker: _Marker, waited: float) -> SessionResult:
        """The command ran past its hard limit: kill its process tree; if the shell does
        not come back (a loop in the shell itself), replace the shell."""
        assert self._shell is not None
        for signal, with_shell in (("KILL", False), ("INT", True)):
            self._signal_tree(signal, include_shell=with_shell)
            if self._read_until(self._shell.main, marker, time.monotonic() + _KILL_WAIT_S):
                return self._finished(marker, waited, timed_out=True)
        marker.flush()
        output, truncated = marker.cap.text(), marker.cap.truncated
        note = self._restart(f"the command did not stop at its hard limit ({self._hard_s:g} s)")
        return SessionResult(
            output=output,
            exit_code=137,
            timed_out=True,
            waited_s=round(waited, 4),
            truncated=truncated,
            cwd=self.cwd,
            restarted=note,
        )

    def _killed_for_disk(self, marker: _Marker, waited: float) -> SessionResult:
        marker.flush()
        output, truncated = marker.cap.text(), marker.cap.truncated
        assert self._disk is not None
        output += self._disk.note(killed=True)
        self._disk_hit.clear()
        note = self._restart("the session reached its disk limit and was killed")
        return SessionResult(
            output=output,
            exit_code=137,
            disk_limit=True,
            waited_s=round(waited, 4),
            truncated=truncated,
            cwd=self.cwd,
            restarted=note,
        )

    # -- the auxiliary shell ----------------------------------------------------------
    def _aux_call(self, template: str, wait_s: float, data: bytes = b"") -> ExecResult:
        with self._lock:
            self._check_open()
            shell = self._live_shell()
            nonce = secrets.token_hex(8)
            marker = _Marker(nonce, OutputCap(self.limits.output_bytes))
            started = time.monotonic()
            shell.aux.send(template.replace("{n}", nonce, 1).encode() + data)
            if not self._read_until(shell.aux, marker, started + wait_s):
                self._restart("the auxiliary shell did not answer")
                raise SandboxError(f"a side command of the session did not answer in {wait_s:g} s")
            assert marker.fields is not None
            code = marker.fields[0]
            return ExecResult(
                exit_code=int(code) if code.isdigit() else -1,
                output=marker.text(),
                timed_out=code == "137",
                truncated=marker.cap.truncated,
                duration_s=round(time.monotonic() - started, 4),
            )

    def _signal_tree(self, signal: str, *, include_shell: bool) -> None:
        assert self._shell is not None
        args = [signal, str(self._shell.main_pid), "yes" if include_shell else "no"]
        self.aux(SIGNAL_TREE, args, timeout_s=10.0)

    def _main_alive(self, shell: ShellProcess) -> bool:
        result = self.aux('kill -0 "$1" 2>/dev/null', [str(shell.main_pid)], timeout_s=10.0)
        return result.exit_code == 0

    def _watch_disk(self) -> None:
        """Check the disk limit while the session lives (every `interval_s`)."""
        assert self._disk is not None
        while not self._stop.wait(self._disk.next_interval(1.0)):
            if self._disk.check():
                self._disk_hit.set()
                shell = self._shell
                if shell is not None:
                    shell.kill_all()


class SessionSlot:
    """A sandbox's one shell session, for both backends: `open` starts it under the
    sandbox's lock after the sandbox's own `check`; it leaves the slot when it closes;
    `busy` says whether one is open (then `exec` and the file methods refuse)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.current: ShellSession | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None and not self.current.closed

    def open(
        self,
        spawn: Callable[[], ShellProcess],
        limits: Limits,
        *,
        disk: DiskGuard | None,
        idle_s: float,
        check: Callable[[], None],
    ) -> ShellSession:
        with self._lock:
            check()
            session = ShellSession(spawn, limits, disk=disk, idle_s=idle_s, on_close=self._left)
            self.current = session
            return session

    def close(self) -> None:
        """Close the open session, if any (everything it started is killed)."""
        session = self.current
        if session is not None:
            session.close()

    def _left(self, session: ShellSession) -> None:
        with self._lock:
            if self.current is session:
                self.current = None
