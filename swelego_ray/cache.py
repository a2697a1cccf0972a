"""What the sandboxes cache on disk, and removing it safely (`swelego cache`).

Kinds under the cache root (envs.repos.default_cache_root):

    env        envs/<key>            built environments (testbed + venv), rebuilt on demand
    checkout   checkouts/<repo>/<sha> clean checkouts, made again on demand
    state      start-states/<id>     kept start states (sandbox._states), prepared again
    workspace  sandboxes/<owner>     sandbox workspaces of one process

Safety rules of `prune`:
- a start state goes through StateStore.evict: never one a sandbox holds (shared flock);
- environments and checkouts carry no record of which sandbox uses them, and a running
  process keeps the environments it built in memory. So they are removed only while no
  process with sandboxes on this cache root is alive (its workspace directory is the
  signal) and while no build holds their lock; otherwise they are skipped with that reason;
- a workspace is removed only when its owning process is dead (sandbox._workspaces);
- a removed directory is renamed away first, so no process ever sees half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from swelego_ray.sandbox.maintenance import (
    StateStore,
    disk_bytes,
    is_held,
    list_states,
    owner_alive,
    remove_tree,
    sweep_stale,
)
from swelego_ray.storage import try_file_lock

KINDS = ("env", "checkout", "state", "workspace")
_TRASH = ".trash-"


@dataclass(frozen=True)
class CacheEntry:
    """One cached item. `busy` says why it cannot be removed now ("" when it can)."""

    kind: str
    name: str
    path: Path
    bytes: int
    last_used: float  # epoch seconds (envs, checkouts: when made; nothing records use)
    detail: str = ""
    busy: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


@dataclass
class PruneSummary:
    """What `prune` removed (or would, on a dry run) and what it skipped, per kind."""

    dry_run: bool
    removed: Counter[str] = field(default_factory=Counter)
    removed_bytes: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[CacheEntry, str]] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)  # docker repository -> removed

    def add(self, entry: CacheEntry) -> None:
        self.removed[entry.kind] += 1
        self.removed_bytes[entry.kind] += entry.bytes

    def skip(self, entry: CacheEntry, reason: str) -> None:
        self.skipped.append((entry, reason))

    def as_dict(self) -> dict[str, Any]:
        reasons = Counter(f"{e.kind}: {reason}" for e, reason in self.skipped)
        return {
            "dry_run": self.dry_run,
            "removed": dict(self.removed),
            "removed_bytes": dict(self.removed_bytes),
            "skipped": dict(reasons.most_common()),
            "skipped_items": [
                {"kind": e.kind, "name": e.name, "reason": r} for e, r in self.skipped
            ],
            "docker_images_removed": self.images,
        }

    def render(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = [
            f"[cache prune] {verb} {sum(self.removed.values())} entries, "
            f"{human_bytes(sum(self.removed_bytes.values()))}"
        ]
        lines += [
            f"  - {kind}: {n} ({human_bytes(self.removed_bytes[kind])})"
            for kind, n in sorted(self.removed.items())
        ]
        lines += [f"  - docker {repo}: {n} images" for repo, n in self.images.items()]
        reasons = Counter(f"{e.kind}: {reason}" for e, reason in self.skipped)
        lines += [f"  skipped {reason}: {n}" for reason, n in reasons.most_common()]
        return "\n".join(lines)


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def usage(cache_root: Path) -> list[CacheEntry]:
    """Every cached item under `cache_root`, oldest use first. Reads only."""
    live = live_owners(cache_root)
    entries = [
        *_envs(cache_root, live),
        *_checkouts(cache_root, live),
        *_states(cache_root),
        *_workspaces(cache_root),
    ]
    return sorted(entries, key=lambda e: (e.last_used, e.kind, e.name))


def live_owners(cache_root: Path) -> list[str]:
    """Owner tags (`<pid>-<start>`) of running processes with sandboxes on this cache."""
    root = cache_root / "sandboxes"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and owner_alive(p.name))


def _mtime(path: Path) -> float:
    with contextlib.suppress(OSError):
        return path.stat().st_mtime
    return 0.0


def _shared_busy(live: list[str]) -> str:
    if not live:
        return ""
    pids = ", ".join(tag.split("-")[0] for tag in live[:5])
    return f"sandbox processes alive on this cache (pid {pids}) may use it"


def _envs(cache_root: Path, live: list[str]) -> Iterator[CacheEntry]:
    root = cache_root / "envs"
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name.startswith(".") or not path.is_dir():
            continue
        detail = ""
        with contextlib.suppress(OSError, ValueError, KeyError):
            spec = json.loads((path / "env.json").read_text())
            detail = f"{spec['repo']}@{spec['commit'][:12]} py{spec['spec']['python']}"
        ready = path / "READY"
        if not ready.is_file():  # an interrupted build: the next build removes it too
            detail = f"incomplete build {detail}".strip()
        used = _mtime(ready) or _mtime(path)
        size = disk_bytes(path)
        yield CacheEntry("env", path.name, path, size, used, detail, _shared_busy(live))


def _checkouts(cache_root: Path, live: list[str]) -> Iterator[CacheEntry]:
    root = cache_root / "checkouts"
    for repo in sorted(root.iterdir()) if root.is_dir() else []:
        for path in sorted(repo.iterdir()) if repo.is_dir() else []:
            if path.name.startswith(".") or not path.is_dir():
                continue
            name = f"{repo.name.replace('__', '/', 1)}@{path.name[:12]}"
            busy = _shared_busy(live)
            yield CacheEntry("checkout", name, path, disk_bytes(path), _mtime(path), "", busy)


def _states(cache_root: Path) -> Iterator[CacheEntry]:
    for used, size, path in list_states(cache_root / "start-states"):
        busy = "held by a running sandbox" if is_held(path) else ""
        yield CacheEntry("state", path.name, path, size, used, "", busy)


def _workspaces(cache_root: Path) -> Iterator[CacheEntry]:
    root = cache_root / "sandboxes"
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir():
            continue
        busy = "" if not owner_alive(path.name) else "owner process alive"
        size = disk_bytes(path)
        yield CacheEntry("workspace", path.name, path, size, _mtime(path), "", busy)


def parse_kinds(values: list[str] | None) -> list[str]:
    """`["env,state", "all"]` -> kinds; ValueError naming an unknown one."""
    kinds: list[str] = []
    for value in values or ["all"]:
        for kind in filter(None, (part.strip() for part in value.split(","))):
            if kind == "all":
                kinds += [k for k in KINDS if k not in kinds]
            elif kind in KINDS:
                kinds += [kind] if kind not in kinds else []
            else:
                raise ValueError(f"unknown kind {kind!r}: use {', '.join(KINDS)} or all")
    return kinds


def prune(
    cache_root: Path,
    *,
    kinds: list[str] | tuple[str, ...] = KINDS,
    older_than_s: float | None = None,
    keep_bytes: int | None = None,
    dry_run: bool = False,
) -> PruneSummary:
    """Remove cached items of `kinds`: those unused for `older_than_s` (all when None),
    least recently used first, until the kept items of those kinds total at most
    `keep_bytes` (workspaces of dead processes are garbage: `keep_bytes` ignores them).
    Items in use are skipped with a reason (see the module docstring)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}: use {', '.join(KINDS)}")
    summary = PruneSummary(dry_run=dry_run)
    entries = [e for e in usage(cache_root) if e.kind in kinds]
    cutoff = time.time() - older_than_s if older_than_s is not None else None
    total = sum(e.bytes for e in entries if e.kind != "workspace")
    store = None
    stale: list[CacheEntry] = []
    for entry in entries:  # oldest use first
        if cutoff is not None and entry.last_used > cutoff:
            summary.skip(entry, "used more recently than --older-than")
        elif entry.busy:
            summary.skip(entry, entry.busy)
        elif entry.kind == "workspace":
            stale.append(entry)
        elif keep_bytes is not None and total <= keep_bytes:
            summary.skip(entry, "within --keep")
        elif dry_run:
            summary.add(entry)
            total -= entry.bytes
        else:
            if entry.kind == "state":
                store = store or StateStore(entry.path.parent, cap_bytes=0)
                reason = "" if store.evict(entry.name) else "held by a running sandbox"
            else:
                reason = _remove_unlocked(cache_root, entry)
            if reason:
                summary.skip(entry, reason)
            else:
                summary.add(entry)
                total -= entry.bytes
    if stale and not dry_run:
        sweep_stale(cache_root / "sandboxes", min_age_s=older_than_s or 0.0)
        stale = [e for e in stale if not e.path.exists()]
    for entry in stale:
        summary.add(entry)
    return summary


def _remove_unlocked(cache_root: Path, entry: CacheEntry) -> str:
    """Remove an env or checkout under its build lock (taken without waiting); a reason
    when it cannot be removed now."""
    # envs/.<key>.lock (builder.ensure), checkouts/<repo>/.<sha>.lock (cached_checkout)
    with try_file_lock(entry.path.parent / f".{entry.path.name}.lock") as locked:
        if not locked:
            return "being built (lock held)"
        if live := live_owners(cache_root):  # a sandbox process started meanwhile
            return _shared_busy(live)
        trash = entry.path.parent / f"{_TRASH}{entry.path.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(entry.path, trash)
        except OSError as exc:
            return f"could not move it away: {exc.strerror}"
    remove_tree(trash)
    return ""


def prune_docker(
    base_url: str | None, kinds: list[str] | tuple[str, ...], summary: PruneSummary
) -> None:
    """Remove the docker backend's images no container uses: kept states (`state`), then
    environment images, the venv images they build on and their python layers (`env`), in
    that order (an image another one builds on stays). Counts go into `summary`."""
    from swelego_ray.sandbox import engine

    client = engine.connect(base_url, timeout_s=60.0)
    repos = (["swelego-state"] if "state" in kinds else []) + (
        ["swelego-env", "swelego-venv", "swelego-python"] if "env" in kinds else []
    )
    for repo in repos:
        if summary.dry_run:
            summary.images[repo] = len(client.images.list(name=repo))
        elif repo == engine.STATE_REPOSITORY:
            summary.images[repo] = engine.remove_states(client)
        else:
            summary.images[repo] = engine.remove_unused_images(client, repo)
