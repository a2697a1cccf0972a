"""The local cache root and advisory file locks every layer that caches on disk shares."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def default_cache_root() -> Path:
    """$SWELEGO_CACHE, else ~/.cache/swelego (read here, at the edge, once per call)."""
    env = os.environ.get("SWELEGO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "swelego"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock across processes (released when the holder dies)."""
    with try_file_lock(path, wait=True):
        yield


@contextlib.contextmanager
def try_file_lock(path: Path, *, wait: bool = False) -> Iterator[bool]:
    """`file_lock`, without waiting unless `wait`: yields whether the lock is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
