"""Bubblewrap command lines: a root built from an allow-list, fixed paths, no privileges.

The sandbox sees only what is listed here (`_system_binds`): /usr read-only with the host's
merged-usr links (/bin, /lib, ...), a synthesized /etc (root and nobody, localhost, and
read-only binds of what programs need and is not secret: ld.so cache, CA certificates,
alternatives, time zone, mime and magic data; never shadow, ssh, machine ids or host
config), a private /tmp, /dev and /proc, and the mounts a caller adds (the testbed, the
venv, the interpreter prefix the venv was made from: `prefix_mounts`). Nothing of /root,
/home, /work, /run, /var or /opt (beyond our own /opt/swelego paths), so no host secret,
no other task's checkout and no host UNIX socket is reachable.

Every namespace is new (user, mount, pid, net, ipc, uts, cgroup), capabilities are dropped
and nested user namespaces are disabled, so a process that is "root" inside cannot remount
anything. Without `network`, only a private loopback exists; with it, a user-mode network
(slirp4netns, see _netns.py) reaches package indexes but no service of the host.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from swelego_ray.sandbox import _seccomp
from swelego_ray.sandbox._protocol import TESTBED, SandboxError

INSTALL_HINT = (
    "bubblewrap (bwrap) is required by the local sandbox backend and was not found; install "
    "it (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`, or "
    "run scripts/setup.sh), or use the docker backend"
)
NETWORK_TOOLS = {  # tool: package (Debian/Ubuntu) providing it
    "slirp4netns": "slirp4netns",
    "nsenter": "util-linux",
    "ip": "iproute2",
}
SANDBOX_PATH = "/opt/swelego/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOSTNAME = "sandbox"
# Host /etc entries bound read-only when present: what programs need, nothing secret.
_ETC_BINDS = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "pki/tls/certs",
    "pki/ca-trust/extracted",
    "alternatives",
    "localtime",
    "timezone",
    "os-release",
    "services",
    "protocols",
    "host.conf",
    "gai.conf",
    "locale.alias",
    "mime.types",
    "magic",
    "magic.mime",
    "fonts",
    "python3",
)
_ETC_GLOBS = ("python3.*",)  # Debian's per-version sitecustomize.py lives here
# Interpreter prefixes that would expose far more than an interpreter.
_TOO_BROAD = {"/", "/root", "/home", "/etc", "/opt", "/var", "/run", "/srv", "/mnt", "/tmp"}
_NETNS_SCRIPT = Path(__file__).with_name("_netns.py")


class SandboxToolMissing(SandboxError):
    """A host tool the sandbox needs is not installed (the message names it)."""


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    writable: bool = False


@functools.cache
def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxToolMissing(INSTALL_HINT)
    return path


@functools.cache
def bwrap_version() -> str:
    out = subprocess.run([bwrap_path(), "--version"], capture_output=True, text=True)
    return out.stdout.strip() or "bubblewrap (unknown version)"


def network_tool(name: str) -> str:
    """The path of a tool the package-index network needs; SandboxToolMissing names it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise SandboxToolMissing(
            f"{name} is required for a sandbox with a package-index network (environment "
            f"builds) and was not found; install it (Debian/Ubuntu: `apt-get install "
            f"{NETWORK_TOOLS[name]}`, or run scripts/setup.sh)"
        )
    return found


def _etc_files() -> dict[str, str]:
    """The synthesized /etc files: users and groups, name lookup, DNS for builds."""
    uid, gid = os.getuid(), os.getgid()
    passwd = [
        "root:x:0:0:root:/tmp:/bin/bash",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ]
    group = ["root:x:0:", "nogroup:x:65534:"]
    if uid not in (0, 65534):
        passwd.append(f"swelego:x:{uid}:{gid}:swelego:/tmp:/bin/bash")
    if gid not in (0, 65534):
        group.append(f"swelego:x:{gid}:")
    hosts = [
        "127.0.0.1\tlocalhost",
        f"127.0.1.1\t{HOSTNAME}",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    nsswitch = ["passwd: files", "group: files", "shadow: files", "hosts: files dns"]
    nsswitch += ["networks: files", "protocols: files", "services: files"]
    return {
        "passwd": "\n".join(passwd) + "\n",
        "group": "\n".join(group) + "\n",
        "hosts": "\n".join(hosts) + "\n",
        "nsswitch.conf": "\n".join(nsswitch) + "\n",
        "resolv.conf": "nameserver 10.0.2.3\n",  # slirp4netns's DNS forwarder
    }


class _SynthEtc:
    """The synthesized /etc files, written once per process into a private directory
    (removed at exit by the process that made it; rewritten if it disappears)."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._owner = 0

    def dir(self) -> Path:
        if self._dir is None or not self._dir.is_dir():
            if self._dir is None:
                _sweep_dead_etc_dirs()
            made = Path(tempfile.mkdtemp(prefix=f"swelego-etc-{os.getpid()}-"))
            for name, text in _etc_files().items():
                (made / name).write_text(text)
            _seccomp.write_filter(made)  # not bound into sandboxes: bwrap reads it
            made.chmod(0o755)
            self._dir, self._owner = made, os.getpid()
            atexit.register(self._remove, made)
        return self._dir

    def _remove(self, path: Path) -> None:
        if os.getpid() == self._owner:
            shutil.rmtree(path, ignore_errors=True)


def _sweep_dead_etc_dirs() -> None:
    """Remove the /etc directories of processes that died without their exit handler."""
    for path in Path(tempfile.gettempdir()).glob("swelego-etc-*-*"):
        pid = path.name.split("-")[2]
        try:
            if (
                pid.isdigit()
                and path.stat().st_uid == os.getuid()
                and not Path(f"/proc/{pid}").exists()
            ):
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


_SYNTH_ETC = _SynthEtc()


def _usr_binds() -> list[str]:
    """/usr read-only, and /bin, /lib, ... as on the host (merged-usr links or dirs)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _etc_binds(synth: Path) -> list[str]:
    args = ["--dir", "/etc"]
    for name in ("passwd", "group", "hosts", "nsswitch.conf"):
        args += ["--ro-bind", str(synth / name), f"/etc/{name}"]
    names = list(_ETC_BINDS)
    for pattern in _ETC_GLOBS:
        names += sorted(os.path.relpath(p, "/etc") for p in glob.glob(f"/etc/{pattern}"))
    for name in names:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return [*args, "--symlink", "/proc/self/mounts", "/etc/mtab"]


@functools.cache
def _system_binds(synth: Path) -> tuple[str, ...]:
    """The allow-listed system part of every sandbox's root (computed once per process)."""
    args = [*_usr_binds(), *_etc_binds(synth), "--dev", "/dev", "--proc", "/proc"]
    args += ["--dir", "/var", "--symlink", "../tmp", "/var/tmp", "--hostname", HOSTNAME]
    return tuple(args)


@functools.cache
def _netns_prefix() -> tuple[str, ...]:
    tools = {name: network_tool(name) for name in NETWORK_TOOLS}
    return (
        sys.executable,
        "-I",
        "-S",
        str(_NETNS_SCRIPT),
        "--slirp",
        tools["slirp4netns"],
        "--nsenter",
        tools["nsenter"],
        "--ip",
        tools["ip"],
    )


def prefix_mounts(prefixes: Iterable[Path]) -> list[Mount]:
    """Read-only binds of interpreter prefixes at their own paths (a venv's python links
    there). /usr is bound anyway; a prefix that would expose far more is refused."""
    mounts: list[Mount] = []
    for prefix in dict.fromkeys(Path(p) for p in prefixes):
        text = str(prefix)
        if text == "/usr" or text.startswith("/usr/"):
            continue
        if not prefix.is_absolute() or text in _TOO_BROAD or prefix == Path.home():
            raise SandboxError(f"interpreter prefix {prefix} is too broad to bind into a sandbox")
        mounts.append(Mount(prefix, text))
    return mounts


def bwrap_argv(
    mounts: list[Mount],
    *,
    network: bool,
    tmp: Path | None,
    forward_ports: Sequence[int] = (),
) -> list[str]:
    """The argv prefix for a command run in TESTBED with the given mounts.

    `network=True` is the package-index network: a user-mode network stack (slirp4netns)
    with the host's loopback and its own addresses unreachable, DNS through slirp; its
    prefix is a small supervisor (_netns.py) that runs bwrap. `forward_ports` (loopback
    ports of a package index the host configured) are relayed to the host's 127.0.0.1,
    those ports only. A missing tool raises SandboxToolMissing naming it."""
    synth = _SYNTH_ETC.dir()
    launch, seccomp = _seccomp.bwrap_launch(synth)  # fallocate denied (sandbox/_seccomp.py)
    args = [*launch, bwrap_path(), *seccomp, *_system_binds(synth)]
    args += ["--bind", str(tmp), "/tmp"] if tmp is not None else ["--tmpfs", "/tmp"]
    if network:
        args += ["--ro-bind", str(synth / "resolv.conf"), "/etc/resolv.conf"]
    for mount in mounts:
        args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
    args += ["--remount-ro", "/", "--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--chdir", TESTBED]
    if not network:
        return [*args, "--"]
    args.append("--share-net")  # the namespace _netns.py made and configured
    forwards = [part for port in forward_ports for part in ("--forward", str(int(port)))]
    return [*_netns_prefix(), *forwards, "--", *args, "--"]


@functools.cache
def _unshare_path() -> str:
    return shutil.which("unshare") or "unshare"  # once per process: a PATH walk costs ms


def overlay_argv(lowers: Sequence[Path], upper: Path, work: Path, merged: Path) -> list[str]:
    """Mount a copy-on-write view of `lowers` (topmost first) at `merged` in a private
    user+mount namespace, then exec the command that follows this prefix (OverlayFS in user
    namespaces: Linux >= 5.11)."""
    if not lowers:
        raise SandboxError("an overlay needs at least one lower directory")
    for path in (*lowers, upper, work, merged):
        if any(c in str(path) for c in ",:\\"):
            raise SandboxError(f"overlay paths may not contain ',', ':' or '\\': {path}")
    # userxattr: overlay metadata in user.* xattrs, which a user namespace may set; without
    # it, renaming even a new directory fails with EXDEV. Renaming a directory that exists
    # in the lower layer still gives EXDEV (as on Docker's overlay2); `mv` copes.
    lowerdir = ":".join(str(p) for p in lowers)
    options = f"lowerdir={lowerdir},upperdir={upper},workdir={work},userxattr"
    script = (
        'err=$(mount -t overlay overlay -o "$1" "$2" 2>&1) || '
        '{ echo "swelego: overlay mount failed: $err"; exit 125; }; shift 2; exec "$@"'
    )
    return [
        _unshare_path(),
        "--mount",
        "--map-root-user",
        "sh",
        "-c",
        script,
        "sh",
        options,
        str(merged),
    ]


@functools.cache
def overlay_supported(scratch: Path) -> bool:
    """Whether unprivileged OverlayFS mounts work here (probed once per scratch dir)."""
    probe = scratch / f".overlay-probe-{os.getpid()}"
    dirs = [probe / d for d in ("lower", "upper", "work", "merged")]
    try:
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        argv = [*overlay_argv(dirs[:1], *dirs[1:]), "true"]
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError, SandboxError):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)
