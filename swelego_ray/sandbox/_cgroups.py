"""Per-sandbox cgroups (v1 `pids` and `memory`), when this host lets us create them.

Groups live under <this process's own cgroup>/swelego/<owner>/<sandbox id> in each
hierarchy, so the sandbox stays inside whatever limits the caller already has. A process's
groups are removed when it exits; groups of dead owners are swept on first use. Without
writable hierarchies the local backend falls back to rlimits (see local.py).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import time
from pathlib import Path

from swelego_ray.sandbox._owner import owner_alive, owner_tag

logger = logging.getLogger(__name__)

CGROUP_FS = Path("/sys/fs/cgroup")
_OOM_KILL = re.compile(r"^oom_kill (\d+)$", re.MULTILINE)


def _own_path(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of `controller`."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


@functools.cache
def cgroup_root(controller: str) -> Path | None:
    """A writable `swelego` group under our own cgroup of `controller`, or None."""
    own = _own_path(controller)
    if own is None:
        return None
    base = CGROUP_FS / controller / own.lstrip("/")
    if not (base / "cgroup.procs").is_file():
        return None
    root = base / "swelego"
    try:
        root.mkdir(exist_ok=True)
    except OSError:
        return None
    if not os.access(root, os.W_OK):
        return None
    for child in root.iterdir():  # groups of processes that died without cleaning up
        if child.is_dir() and not owner_alive(child.name):
            remove_group(child)
    atexit.register(remove_group, root / owner_tag())
    return root


def remove_group(group: Path) -> None:
    """Remove a cgroup directory tree, leaves first (they hold only pseudo files)."""
    if not group.is_dir():
        return
    for child in group.iterdir():
        if child.is_dir():
            remove_group(child)
    with contextlib.suppress(OSError):
        group.rmdir()


class SandboxCgroups:
    """The pids and memory groups of one sandbox (either may be missing)."""

    def __init__(self, sandbox_id: str, *, pids: int, memory_mb: int) -> None:
        self.groups: dict[str, Path] = {}
        memory = memory_mb << 20
        wanted = {
            "pids": [("pids.max", pids)],
            "memory": [("memory.limit_in_bytes", memory), ("memory.memsw.limit_in_bytes", memory)],
        }
        for controller, settings in wanted.items():
            root = cgroup_root(controller)
            if root is None:
                continue
            group = root / owner_tag() / sandbox_id
            try:
                group.mkdir(parents=True, exist_ok=True)
                for name, value in settings:
                    if (group / name).exists():  # memsw exists only with swap accounting
                        (group / name).write_text(str(value))
            except OSError as err:
                logger.warning("cannot set up the %s cgroup (%s); using rlimits", controller, err)
                remove_group(group)
                continue
            self.groups[controller] = group

    def has(self, controller: str) -> bool:
        return controller in self.groups

    @property
    def procs_files(self) -> list[Path]:
        return [group / "cgroup.procs" for group in self.groups.values()]

    def settle(self, timeout_s: float = 2.0) -> bool:
        """Wait until no process of the sandbox is left (after its command ended or was
        killed, the processes of its pid namespace die a little later, killed by the
        kernel; anything they write in between must be on disk before the sandbox's
        usage is measured). True when the group emptied; False without a group (nothing
        to wait on: the disk check may then miss the last milliseconds of writes)."""
        if not self.groups:
            return False
        procs = next(iter(self.groups.values())) / "cgroup.procs"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                pids = [int(p) for p in procs.read_text().split()]
            except (OSError, ValueError):
                return False
            if not pids:
                return True
            if time.monotonic() > deadline:
                logger.warning("sandbox processes %s outlived their command", pids[:10])
                return False
            time.sleep(0.002)

    def oom_kills(self) -> int:
        """How many processes the memory group's OOM killer has killed so far."""
        group = self.groups.get("memory")
        if group is None:
            return 0
        try:
            match = _OOM_KILL.search((group / "memory.oom_control").read_text())
        except OSError:
            return 0
        return int(match[1]) if match else 0

    def remove(self) -> None:
        for group in self.groups.values():
            remove_group(group)
        self.groups = {}
