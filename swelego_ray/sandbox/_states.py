"""Kept start states of the local backend: prepared workspaces frozen into read-only layers.

A start state (`StartState`) is prepared once per (environment, key) in an ordinary
sandbox; its workspace is then frozen into `<root>/<id>/layer`: in overlay mode the
sandbox's upper directory (only what `prepare` changed), in copy mode the whole testbed.
Later sandboxes mount the layer as the topmost lower directory (or copy it). Per state:

    layer/     the frozen workspace
    note.txt   what `prepare` returned
    size       bytes on disk (for eviction)
    lock       flock: shared while a sandbox uses the layer, exclusive to evict it

A state is published by renaming a finished temporary directory, so a half-written one is
never used, and a race between two preparers is lost by one of them harmlessly (it keeps
its own workspace). Temporary directories of dead processes are swept. The store is
capped: least recently used states that no sandbox holds are evicted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from swelego_ray.sandbox._owner import owner_alive, owner_tag
from swelego_ray.sandbox._workspaces import remove_tree

logger = logging.getLogger(__name__)

_TMP, _TRASH = ".tmp-", ".trash-"


@dataclass
class HeldState:
    """A published state a sandbox uses; the shared lock keeps it from eviction."""

    path: Path
    note: str
    fd: int

    @property
    def layer(self) -> Path:
        return self.path / "layer"

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


class StateStore:
    """Start states under `root`, at most `cap_bytes` of them kept (LRU)."""

    def __init__(self, root: Path, cap_bytes: int) -> None:
        self.root, self.cap_bytes = root, cap_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._sweep()

    def state_id(self, env_key: str, key: str, lowers: list[Path]) -> str:
        """Names the state of `key` on these exact lower directories (a rebuilt testbed is
        a new directory: its states are new too)."""
        identity = [env_key, key]
        for lower in lowers:
            st = lower.stat()
            identity.append(f"{lower}:{st.st_ino}:{st.st_mtime_ns}")
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]

    def acquire(self, state_id: str) -> HeldState | None:
        """The published state, held (shared lock), or None if there is none."""
        path = self.root / state_id
        try:
            fd = os.open(path / "lock", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            note = (path / "note.txt").read_text()  # gone if evicted before the lock
            os.utime(path / "lock")  # last used, for eviction
        except OSError:
            os.close(fd)
            return None
        return HeldState(path, note, fd)

    def publish(self, state_id: str, workspace: Path, note: str) -> HeldState | None:
        """Move `workspace` in as the state's layer and hold it; None when another process
        published the state first (then `workspace` is moved back untouched)."""
        tmp = self.root / f"{_TMP}{owner_tag()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        _move(workspace, tmp / "layer")
        size = disk_bytes(tmp / "layer")
        (tmp / "note.txt").write_text(note)
        (tmp / "size").write_text(str(size))
        (tmp / "lock").touch()
        final = self.root / state_id
        try:
            os.rename(tmp, final)
        except OSError:  # published meanwhile by another sandbox: keep using ours
            _move(tmp / "layer", workspace)
            remove_tree(tmp)
            return None
        held = self.acquire(state_id)
        self._evict(keep=state_id)
        return held

    def evict(self, state_id: str) -> bool:
        """Remove one published state unless a sandbox holds it (then False)."""
        if not self._evict_one(self.root / state_id):
            return False
        logger.info("evicted start state %s", state_id)
        return True

    def _evict(self, keep: str) -> None:
        states = [s for s in list_states(self.root) if s[2].name != keep]
        total = sum(size for _, size, _ in states) + _size_of(self.root / keep)
        for _used, size, path in sorted(states):
            if total <= self.cap_bytes:
                break
            if self._evict_one(path):
                total -= size
                logger.info("evicted start state %s (over %d bytes)", path.name, self.cap_bytes)

    def _evict_one(self, path: Path) -> bool:
        try:
            fd = os.open(path / "lock", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # in use: skip it
            trash = self.root / f"{_TRASH}{uuid.uuid4().hex[:8]}"
            os.rename(path, trash)
        except OSError:
            return False
        finally:
            os.close(fd)
        remove_tree(trash)
        return True

    def _sweep(self) -> None:
        for path in self.root.iterdir():
            name = path.name
            owner = name[len(_TMP) :].rsplit("-", 1)[0] if name.startswith(_TMP) else None
            if name.startswith(_TRASH) or (owner is not None and not owner_alive(owner)):
                remove_tree(path)


def list_states(root: Path) -> list[tuple[float, int, Path]]:
    """(last used, bytes, path) of each published state under `root` (read-only)."""
    states = []
    for path in root.iterdir() if root.is_dir() else []:
        if path.name.startswith((_TMP, _TRASH)):
            continue
        with contextlib.suppress(OSError, ValueError):
            used = (path / "lock").stat().st_mtime
            states.append((used, int((path / "size").read_text()), path))
    return states


def is_held(path: Path) -> bool:
    """Whether a sandbox holds the state at `path` now (probes the lock, takes nothing)."""
    try:
        fd = os.open(path / "lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the probe's lock
    return False


def _size_of(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int((path / "size").read_text())
    return 0


def disk_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    with contextlib.suppress(ValueError, IndexError):
        return int(out.stdout.split()[0])
    return 0


def _move(src: Path, dst: Path) -> None:
    """rename, or `cp -a` + remove across filesystems (keeps overlay whiteouts and xattrs)."""
    try:
        os.rename(src, dst)
    except OSError:
        subprocess.run(["cp", "-a", str(src), str(dst)], check=True, capture_output=True)
        remove_tree(src)
