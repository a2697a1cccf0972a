"""Run a bubblewrap command on a user-mode network: package indexes yes, host services no.

    python -I -S _netns.py --slirp PATH --nsenter PATH --ip PATH [--forward PORT]... \
        -- BWRAP ARGS...

Standard library only and run as a script (no package imports: it starts in ~20 ms). Steps:
bwrap starts with `--info-fd` (we read its child pid) and `--block-fd` (the command waits);
slirp4netns gives the namespace `tap0` with `--disable-host-loopback` (10.0.2.2 does not
reach the host's 127.0.0.1); blackhole routes are added to every local address of the host
(where services bound to 0.0.0.0 listen) and to link-local 169.254.0.0/16 (cloud metadata);
the sandbox has no capabilities, so it cannot remove them. Each `--forward PORT` (a package
index the host configured on its loopback) gets a relay from the sandbox's 127.0.0.1:PORT
to the host's 127.0.0.1:PORT, that port only. Then the command is released; when it ends,
slirp4netns ends (its exit fd closes with us, also if we are killed).

Set-up failures print a line starting with MARKER and exit 125.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading

MARKER = "swelego: package-index network failed:"
READY_TIMEOUT_S = 20.0
CLONE_NEWNET = 0x40000000
BLACKHOLE_NETS = ("169.254.0.0/16",)  # link-local: cloud metadata services


class SetupError(Exception):
    """The network could not be set up; the command never ran."""


def host_addresses() -> list[str]:
    """The host's local IPv4 addresses except 127/8 (from /proc/net/fib_trie)."""
    found: set[str] = set()
    last = ""
    with open("/proc/net/fib_trie") as trie:
        for line in trie:
            text = line.strip()
            if text.startswith(("|--", "+--")):
                last = text.split()[1]
            elif text == "/32 host LOCAL" and last and not last.startswith("127."):
                found.add(last)
    return sorted(found)


def _read_child_pid(fd: int) -> int:
    data = b""
    while True:
        ready, _, _ = select.select([fd], [], [], READY_TIMEOUT_S)
        if not ready:
            raise SetupError("bwrap did not report its child pid")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise SetupError(f"bwrap exited before reporting its child pid: {data!r}")
        data += chunk
        try:
            return int(json.loads(data)["child-pid"])
        except ValueError:
            continue


def _start_slirp(slirp: str, pid: int, exit_r: int) -> subprocess.Popen:
    ready_r, ready_w = os.pipe()
    # By path, so that slirp4netns joins only the network namespace: given a pid it would
    # join the sandbox's user namespace first, where (bwrap --disable-userns nests one
    # more) it has no rights over that network namespace.
    argv = [slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox"]
    argv += ["--enable-seccomp", "--ready-fd", str(ready_w), "--exit-fd", str(exit_r)]
    argv += ["--netns-type=path"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*argv, f"/proc/{pid}/ns/net", "tap0"],
            pass_fds=(ready_w, exit_r),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        os.close(ready_w)
        ready, _, _ = select.select([ready_r], [], [], READY_TIMEOUT_S)
        ok = bool(ready) and os.read(ready_r, 1) == b"1"
        os.close(ready_r)
        if ok:
            return proc
        proc.kill()
        proc.wait()
        log.seek(0)
        said = log.read()[-2000:].decode(errors="replace").strip()
    raise SetupError(f"slirp4netns did not come up: {said}")


def _add_routes(nsenter: str, ip: str, pid: int) -> None:
    lines = ["link set lo up"]
    lines += [f"route add blackhole {addr}/32" for addr in host_addresses()]
    lines += [f"route add blackhole {net}" for net in BLACKHOLE_NETS]
    done = subprocess.run(
        [nsenter, "-t", str(pid), "-n", ip, "-batch", "-"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SetupError(f"adding blackhole routes failed: {done.stderr.strip()}")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise SetupError(f"setns: {os.strerror(ctypes.get_errno())}")


def _listeners(pid: int, ports: list[int]) -> list[socket.socket]:
    """Sockets listening on 127.0.0.1:PORT inside the sandbox's network namespace."""
    if not ports:
        return []
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    made: list[socket.socket] = []
    try:
        _setns(target)
        for port in ports:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
            made.append(listener)
    finally:
        _setns(host_ns)
        os.close(host_ns)
        os.close(target)
    return made


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)


def _relay(listener: socket.socket) -> None:
    """Accept in the sandbox's namespace, connect in the host's (this thread's)."""
    port = listener.getsockname()[1]
    while True:
        inner, _ = listener.accept()
        try:
            outer = socket.create_connection(("127.0.0.1", port), timeout=30)
            outer.settimeout(None)
        except OSError:
            inner.close()
            continue
        for a, b in ((inner, outer), (outer, inner)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def run(args: argparse.Namespace, bwrap: list[str]) -> int:
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    exit_r, exit_w = os.pipe()  # slirp4netns ends when exit_w closes (with this process)
    argv = [bwrap[0], "--info-fd", str(info_w), "--block-fd", str(block_r), *bwrap[1:]]
    proc = subprocess.Popen(argv, pass_fds=(info_w, block_r))
    os.close(info_w)
    os.close(block_r)
    slirp = None
    pid = 0
    try:
        pid = _read_child_pid(info_r)
        slirp = _start_slirp(args.slirp, pid, exit_r)
        _add_routes(args.nsenter, args.ip, pid)
        for listener in _listeners(pid, args.forward):
            threading.Thread(target=_relay, args=(listener,), daemon=True).start()
    except (SetupError, OSError) as err:
        if pid:  # the sandbox's init: its pid namespace (the blocked command) ends with it
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        if slirp is not None:
            slirp.kill()
        print(f"{MARKER} {err}", flush=True)
        return 125
    finally:
        os.close(exit_r)
    os.write(block_w, b"1")
    os.close(block_w)
    code = proc.wait()
    os.close(exit_w)
    assert slirp is not None
    try:
        slirp.wait(timeout=5)
    except subprocess.TimeoutExpired:
        slirp.kill()
    return code if code >= 0 else 128 - code


def main() -> None:
    if "--" not in sys.argv:
        raise SystemExit("usage: _netns.py OPTIONS -- BWRAP ARGS...")
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser(prog="_netns.py")
    parser.add_argument("--slirp", required=True)
    parser.add_argument("--nsenter", required=True)
    parser.add_argument("--ip", required=True)
    parser.add_argument("--forward", type=int, action="append", default=[])
    args = parser.parse_args(sys.argv[1:split])
    sys.exit(run(args, sys.argv[split + 1 :]))


if __name__ == "__main__":
    main()
