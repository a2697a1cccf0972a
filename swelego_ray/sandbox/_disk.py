"""Per-sandbox disk accounting: how much a sandbox has written into its writable places.

A sandbox's writes land in a few host directories (the local backend's overlay upper dir
or copied testbed and its private /tmp; the docker backend's container upper dir). The
usage of those trees is the sum of the blocks their inodes hold (`st_blocks`, so sparse
files count what they really allocate; a hard-linked inode counts once), each entry
charged at least one 4 KiB block so that millions of empty files cost something too (and
a walk of them stays bounded). Usage is measured against a baseline taken when the
sandbox was set up, so a copied checkout does not count as the sandbox's writes.

`DiskGuard.check` walks the trees; the backends call it from a watchdog while a command
runs (after 0.05 s, then at doubling intervals up to every `interval_s`, stretched when a
walk is slow so the watchdog never takes more than a fifth of a core) and once after the
command. Nothing walks while nothing runs. A
command is stopped when it grew the usage to the limit; a sandbox left full still runs
commands that read or free space.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

MIN_ENTRY_BYTES = 4096  # the smallest charge per file or directory
_FIRST_CHECK_S = 0.05


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
    with `measure`, whatever bytes that callable reports, e.g. an engine's own count)."""

    def __init__(
        self,
        roots: list[Path],
        limit_mb: int,
        *,
        interval_s: float = 0.5,
        measure: Callable[[], int] | None = None,
    ) -> None:
        self.roots = list(roots)
        self.measure = measure
        self.limit = limit_mb << 20
        self.limit_mb = limit_mb
        self.interval_s = interval_s
        self.baseline = 0
        self.last = 0  # the usage (over the baseline) the latest check measured
        self.at_start = 0  # the usage when the current command started
        self.walk_s = 0.0  # how long the latest walk took

    def rebaseline(self) -> None:
        """Count what the trees hold now as set-up, not as the sandbox's writes."""
        self.baseline = self._raw()
        self.last = self.at_start = 0

    def begin(self) -> None:
        """A command starts. Nothing writes between commands, so the usage is the one the
        last check measured: no walk needed."""
        self.at_start = self.last

    def _raw(self) -> int:
        started = time.monotonic()
        if self.measure is not None:
            total = self.measure()
        else:
            total = sum(tree_usage(root) for root in self.roots)
        self.walk_s = time.monotonic() - started
        return total

    def check(self) -> bool:
        """Measure; True when the current command grew the sandbox's writes to the limit
        (a full sandbox stays usable for commands that only read or free space)."""
        self.last = max(self._raw() - self.baseline, 0)
        return self.last >= self.limit and self.last > self.at_start

    def next_interval(self, elapsed_s: float) -> float:
        """Seconds until the next check, `elapsed_s` into a command: soon at first (a fast
        writer overshoots less; a command that ends first costs only the check after
        it), then every `interval_s`, or 4x the last walk if that is longer."""
        ramp = max(elapsed_s, _FIRST_CHECK_S)  # 0.05 s, then doubling: 0.1, 0.2, 0.4, ...
        return max(min(ramp, self.interval_s), 4 * self.walk_s)

    def note(self, *, killed: bool) -> str:
        """The line appended to a command's output when it hit the limit."""
        used = self.last / 2**20
        what = "killed: disk limit" if killed else "disk limit"
        return f"\n[{what} ({self.limit_mb} MiB) reached: {used:.0f} MiB written]\n"
