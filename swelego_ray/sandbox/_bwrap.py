"""Bubblewrap command lines: read-only host root, fixed in-sandbox paths, no privileges.

Every namespace is new (user, mount, pid, net, ipc, uts, cgroup), capabilities are dropped
and nested user namespaces are disabled, so a process that is "root" inside cannot remount
the read-only host paths. Without `network`, only a private loopback exists.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from swelego_ray.sandbox._protocol import TESTBED, VENV, SandboxError

INSTALL_HINT = (
    "bubblewrap (bwrap) is required by the local sandbox backend and was not found; install "
    "it (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`, or "
    "run scripts/setup.sh), or use the docker backend"
)
# Host paths the sandbox must not see as-is: replaced by private mounts.
_PRIVATE_TOP = {"proc", "dev", "tmp", TESTBED.strip("/").split("/")[0], "opt"}
SANDBOX_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    writable: bool = False


@functools.cache
def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError(INSTALL_HINT)
    return path


@functools.cache
def bwrap_version() -> str:
    out = subprocess.run([bwrap_path(), "--version"], capture_output=True, text=True)
    return out.stdout.strip() or "bubblewrap (unknown version)"


def _host_root_binds() -> list[str]:
    """Bind every top-level host entry read-only, except the ones made private."""
    args: list[str] = []
    for name in sorted(os.listdir("/")):
        if name in _PRIVATE_TOP:
            continue
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
    args += ["--dir", "/opt"]
    venv_top = VENV.split("/")[2]  # "swelego" in /opt/swelego/venv
    if os.path.isdir("/opt"):
        for name in sorted(os.listdir("/opt")):
            if name != venv_top:
                args += ["--ro-bind", f"/opt/{name}", f"/opt/{name}"]
    return args


def bwrap_argv(mounts: list[Mount], *, network: bool, tmp: Path | None) -> list[str]:
    """The bwrap prefix for a command run in TESTBED with the given mounts."""
    args = [bwrap_path(), *_host_root_binds(), "--dev", "/dev", "--proc", "/proc"]
    args += ["--bind", str(tmp), "/tmp"] if tmp is not None else ["--tmpfs", "/tmp"]
    for mount in mounts:
        args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
    args += ["--remount-ro", "/", "--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--cap-drop", "ALL", "--die-with-parent", "--new-session", "--chdir", TESTBED]
    if network:
        args.append("--share-net")
    return [*args, "--"]


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
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, "--mount", "--map-root-user", "sh", "-c", script, "sh", options, str(merged)]


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
