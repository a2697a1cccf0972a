"""Per-sandbox disk accounting: how much a sandbox has written into its writable places.

A sandbox's writes land in a few host directories (the local backend's overlay upper dir
or copied testbed and its private /tmp; the docker backend's container upper dir). The
usage of those trees is the sum of the blocks their inodes hold (`st_blocks`, so sparse
files count what they really allocate; a hard-linked inode counts once), each entry
charged at least one 4 KiB block so that millions of empty files cost something too (and
a walk of them stays bounded). Usage is measured against a baseline taken when the
sandbox was set up, so a copied checkout does not count as the sandbox's writes.

The backends call `DiskGuard.check` from a watchdog while a command runs (after 0.02 s,
then at doubling intervals up to every `interval_s`, 0.1 s) and once after the command; it
walks the trees only when the filesystem under them grew enough that the limit may have
been reached, or when its last walk is stale (see DiskGuard). Nothing walks while nothing
runs. A command is stopped when it grew the usage to the limit; a sandbox left full
still runs commands that read or free space.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

MIN_ENTRY_BYTES = 4096  # the smallest charge per file or directory
_FIRST_CHECK_S = 0.02
# Blocks a filesystem adds later to data already written (extent trees at writeback): a
# full sandbox's next command is only charged with growth beyond this.
_SETTLING = 1 << 20


def tree_usage(root: Path) -> int:
    """Bytes held by the inodes under `root` (itself excluded), each at least 4 KiB.
    Entries that vanish or cannot be read during the walk are skipped."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_nlink > 1 and not is_dir:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += max(st.st_blocks * 512, MIN_ENTRY_BYTES)
                if is_dir:
                    stack.append(entry.path)
    return total


class DiskGuard:
    """Watches the writable trees of one sandbox against `limit_mb` MiB of writes (or,
    with `measure`, whatever bytes that callable reports, e.g. an engine's own count).

    A walk costs ~5-9 us per entry here: ~0.1 ms for a fresh overlay's upper dir, 30-55
    ms for a 6,000-file tree. `check` walks whenever the last walk took less than
    `cheap_walk_s` (the usual case: exact every time). Larger trees are walked only when
    the filesystems holding them grew (statvfs, a few microseconds) by 90 % of the room
    left since the last walk, so that the sandbox could have reached the limit, or when
    the last walk is `max_stale_s` old. Other writers only make that growth look larger
    (an extra walk); space others free at the same time can hide the sandbox's writes
    from it, until the next stale walk."""

    def __init__(
        self,
        roots: list[Path],
        limit_mb: int,
        *,
        interval_s: float = 0.1,
        max_stale_s: float = 10.0,
        cheap_walk_s: float = 0.002,
        measure: Callable[[], int] | None = None,
    ) -> None:
        self.roots = list(roots)
        self.measure = measure
        self.limit = limit_mb << 20
        self.limit_mb = limit_mb
        self.interval_s = interval_s
        self.max_stale_s = interval_s if measure is not None else max_stale_s
        self.cheap_walk_s = 0.0 if measure is not None else cheap_walk_s
        self.baseline = 0
        self.last = 0  # the usage (over the baseline) the latest walk measured
        self.at_start = 0  # the usage when the current command started
        self.walk_s = 0.0  # how long the latest walk took
        self.walks = 0  # how many walks so far
        self._walked_at = -math.inf
        self._fs_at_walk = 0
        self._devices = {} if measure is not None else _filesystems(self.roots)

    def rebaseline(self) -> None:
        """Count what the trees hold now as set-up, not as the sandbox's writes."""
        self.baseline = 0
        self._walk()
        self.baseline, self.last, self.at_start = self.last, 0, 0

    def begin(self) -> None:
        """A command starts. Nothing writes between commands, so the usage is the one the
        last check measured: no walk needed."""
        self.at_start = self.last

    def check(self, *, force: bool = False) -> bool:
        """True when the current command grew the sandbox's writes to the limit (a full
        sandbox stays usable for commands that only read or free space); walks when the
        limit may have been reached, the last walk is stale, or `force`."""
        if force or self._walk_needed():
            self._walk()
        return self.last >= self.limit and self.last > self.at_start + _SETTLING

    def _walk_needed(self) -> bool:
        if self.walk_s < self.cheap_walk_s:
            return True
        if time.monotonic() - self._walked_at >= self.max_stale_s:
            return True
        grown = self._fs_used() - self._fs_at_walk
        return bool(self._devices) and grown >= 0.9 * (self.limit - self.last)

    def _walk(self) -> None:
        fs_used = self._fs_used()  # before the walk: what grows during it shows next time
        started = time.monotonic()
        if self.measure is not None:
            raw = self.measure()
        else:
            raw = sum(tree_usage(root) for root in self.roots)
        self._walked_at = time.monotonic()
        self.walk_s, self.walks = self._walked_at - started, self.walks + 1
        self.last = max(raw - self.baseline, 0)
        self._fs_at_walk = fs_used

    def _fs_used(self) -> int:
        """Bytes in use on the filesystems holding the trees (delayed allocations count)."""
        total = 0
        for path in self._devices.values():
            with contextlib.suppress(OSError):
                st = os.statvfs(path)
                total += (st.f_blocks - st.f_bfree) * st.f_frsize
        return total

    def next_interval(self, elapsed_s: float) -> float:
        """Seconds until the next check, `elapsed_s` into a command: soon at first (a fast
        writer overshoots less; a command that ends first costs only the check after
        it), then every `interval_s`, or 4x the last walk if that is longer."""
        ramp = max(elapsed_s, _FIRST_CHECK_S)  # 0.02 s, then doubling: 0.04, 0.08, ...
        return max(min(ramp, self.interval_s), 4 * self.walk_s)

    def note(self, *, killed: bool) -> str:
        """The line appended to a command's output when it hit the limit."""
        used = self.last / 2**20
        what = "killed: disk limit" if killed else "disk limit"
        return f"\n[{what} ({self.limit_mb} MiB) reached: {used:.0f} MiB written]\n"


def _filesystems(roots: list[Path]) -> dict[int, Path]:
    """One path per filesystem (device) holding `roots`."""
    found: dict[int, Path] = {}
    for root in roots:
        with contextlib.suppress(OSError):
            found.setdefault(root.stat().st_dev, root)
    return found
