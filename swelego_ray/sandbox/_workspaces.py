"""Sandbox workspaces on the host, owned by the creating process and swept after it.

Workspaces live under ROOT/<pid>-<process start time>/<sandbox id>. The owning process
removes its directory at exit (atexit); a directory whose owner is gone (crash, SIGKILL) is
removed by the next process that starts a sandbox under the same root.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import stat
import threading
import time
from pathlib import Path

from swelego_ray.sandbox._owner import owner_alive, owner_tag

logger = logging.getLogger(__name__)

__all__ = ["owner_alive", "owner_tag", "process_dir", "remove_tree", "sweep_stale"]

_registered: set[Path] = set()
_lock = threading.Lock()


def remove_tree(path: Path) -> None:
    """rmtree that also removes what overlayfs leaves unreadable (its work/work dir)."""

    def fix(func, failed, _exc_info):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), stat.S_IRWXU)
            os.chmod(failed, stat.S_IRWXU)
        with contextlib.suppress(OSError):
            func(failed)

    if path.exists():
        shutil.rmtree(path, onerror=fix)


def sweep_stale(root: Path, *, min_age_s: float = 0.0) -> int:
    """Remove workspace directories of processes that no longer exist (only those not
    modified for `min_age_s` seconds)."""
    removed = 0
    cutoff = time.time() - min_age_s
    if root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and not owner_alive(child.name) and _mtime(child) <= cutoff:
                remove_tree(child)
                removed += 1
    if removed:
        logger.info("swept %d stale sandbox directories under %s", removed, root)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def process_dir(root: Path) -> Path:
    """This process's workspace directory under `root` (created, swept for stale ones, and
    removed again when the process exits)."""
    mine = root / owner_tag()
    with _lock:
        if mine not in _registered:
            root.mkdir(parents=True, exist_ok=True)
            sweep_stale(root)
            mine.mkdir(exist_ok=True)
            _registered.add(mine)
            atexit.register(remove_tree, mine)
    return mine
