"""Run a bubblewrap command on a user-mode network: package indexes yes, host services no.

    python -I -S _netns.py --slirp PATH --nsenter PATH --ip PATH [--forward PORT]... \
        -- BWRAP ARGS...

Standard library only and run as a script (no package imports: it starts in ~20 ms). Steps:
a child of ours enters a new network namespace and waits; slirp4netns gives that namespace
`tap0` with `--disable-host-loopback` (10.0.2.2 does not reach the host's 127.0.0.1);
loopback comes up and blackhole routes are added to every local address of the host (where
services bound to 0.0.0.0 listen) and to link-local 169.254.0.0/16 (cloud metadata). Each
`--forward PORT` (a package index the host configured on its loopback) gets a relay from
the namespace's 127.0.0.1:PORT to the host's 127.0.0.1:PORT, that port only. Only then
does the child exec bwrap (given `--share-net`: it keeps that namespace). The namespace
belongs to our user namespace, not the sandbox's, and the sandbox has no capabilities: it
cannot change the routes. When the command ends, slirp4netns ends (its exit fd closes with
us, also when we are killed).

Why not bwrap's own network namespace (`--info-fd` for its pid, `--block-fd` to hold the
command): bwrap brings up loopback in it while slirp4netns configures tap0, and one of the
two netlink exchanges failed now and then (`bwrap: loopback: Failed RTM_NEWADDR`, ~1 in 8
starts here). A namespace we make and configure before bwrap runs has no such race.

Set-up failures print a line starting with MARKER and exit 125.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
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


def _fork_in_new_netns(bwrap: list[str]) -> tuple[int, int]:
    """A child in a new network namespace that execs `bwrap` once released: (pid, the fd
    that releases it by a write)."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no threads exist yet, fork is safe
        try:
            os.close(ready_r)
            os.close(go_w)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) != 0:
                os.write(2, f"{MARKER} unshare: {os.strerror(ctypes.get_errno())}\n".encode())
                os._exit(125)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) == b"1":  # EOF: the parent died or gave up
                os.execv(bwrap[0], bwrap)
        finally:
            os._exit(125)
    os.close(ready_w)
    os.close(go_r)
    ready, _, _ = select.select([ready_r], [], [], READY_TIMEOUT_S)
    ok = bool(ready) and os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    if not ok:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise SetupError("could not create a network namespace")
    return pid, go_w


def run(args: argparse.Namespace, bwrap: list[str]) -> int:
    exit_r, exit_w = os.pipe()  # slirp4netns ends when exit_w closes (with this process)
    slirp = None
    pid = 0
    try:
        pid, go = _fork_in_new_netns(bwrap)
        slirp = _start_slirp(args.slirp, pid, exit_r)
        _add_routes(args.nsenter, args.ip, pid)
        for listener in _listeners(pid, args.forward):
            threading.Thread(target=_relay, args=(listener,), daemon=True).start()
    except (SetupError, OSError) as err:
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        if slirp is not None:
            slirp.kill()
        print(f"{MARKER} {err}", flush=True)
        return 125
    finally:
        os.close(exit_r)
    os.write(go, b"1")
    os.close(go)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
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
