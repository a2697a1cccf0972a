"""CPU seconds of this benchmark's own process tree, by where they went: the driver (this
process), Ray's processes (workers, raylet, GCS, agents: their own time) and the rest
(the sandboxed commands: bubblewrap, git, pytest), read from a cpuacct cgroup the script
joins before it starts Ray (everything it starts inherits the group).

The machine-wide busy cores count other jobs too; this counts only ours. Needs a writable
cgroup v1 cpuacct hierarchy (root); elsewhere `TreeCpu.join` returns None. Not a benchmark
itself (run_all.py runs only `*_bench.py`).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
_HZ = os.sysconf("SC_CLK_TCK")


def _self_seconds(pid: int) -> tuple[str, float] | None:
    """(start time, user + system seconds) of a process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19], (int(fields[11]) + int(fields[12])) / _HZ


def _is_ray(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return (
        "ray::" in cmd or "/ray/" in cmd or cmd.split(" ", 1)[0].endswith(("raylet", "gcs_server"))
    )


@dataclass
class Snapshot:
    when: float
    total_s: float
    driver_s: float
    ray: dict[tuple[int, str], float] = field(default_factory=dict)  # (pid, start) -> s


@dataclass
class TreeCpu:
    """A cpuacct cgroup holding this process and everything it starts."""

    path: Path

    @classmethod
    def join(cls, name: str = "swelego-bench") -> TreeCpu | None:
        path = CPUACCT / name
        try:
            path.mkdir(exist_ok=True)
            (path / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            return None
        return cls(path)

    def snapshot(self) -> Snapshot:
        total = int((self.path / "cpuacct.usage").read_text()) / 1e9
        times = os.times()
        snap = Snapshot(time.monotonic(), total, times.user + times.system)
        for line in (self.path / "cgroup.procs").read_text().split():
            pid = int(line)
            if pid == os.getpid() or not _is_ray(pid):
                continue
            if (found := _self_seconds(pid)) is not None:
                snap.ray[(pid, found[0])] = found[1]
        return snap

    @staticmethod
    def split(before: Snapshot, after: Snapshot) -> dict[str, float]:
        """CPU seconds between two snapshots: total, driver, ray, sandboxes (the rest; a
        Ray process that ended in between counts there too)."""
        ray = sum(s - before.ray.get(key, 0.0) for key, s in after.ray.items())
        total = after.total_s - before.total_s
        driver = after.driver_s - before.driver_s
        return {
            "total_s": round(total, 2),
            "driver_s": round(driver, 2),
            "ray_s": round(ray, 2),
            "sandboxes_s": round(total - driver - ray, 2),
            "wall_s": round(after.when - before.when, 2),
        }

    def leave(self) -> None:
        """Back to the root group; the group is removed once empty (after Ray ended)."""
        with contextlib.suppress(OSError):
            (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
        with contextlib.suppress(OSError):
            self.path.rmdir()
