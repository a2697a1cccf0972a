"""URI-addressed storage: local paths and s3:// through one interface.

Writes are atomic: a local write goes to a temporary file that is renamed into place; an
S3 object becomes visible only when its upload completes, and is read with one GET. So a
reader never sees a half-written result as done.

S3 calls are retried a bounded number of times (S3Options.max_attempts, exponential
backoff) on network faults, timeouts, throttling and server errors; permanent errors (no
such bucket, access denied) fail at once. Either way the StorageError names the URI, the
key, the attempts made, the time spent and the cause. Every operation is idempotent, so a
retry never duplicates anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from swelego_ray.storage._backends import LocalBackend, S3Backend, TransientError
from swelego_ray.storage._uri import S3Options, StorageError, parse_uri

log = logging.getLogger(__name__)
T = TypeVar("T")


class Store:
    """A root URI (`/abs/dir`, `file:///dir` or `s3://bucket/prefix?endpoint_override=...`)
    under which keys (`a/b/c.json`) are read and written."""

    def __init__(self, uri: str, s3: S3Options | None = None) -> None:
        parsed = parse_uri(uri)
        self.uri = str(uri)
        self.root = parsed.root
        self.is_local = parsed.is_local
        self.s3 = None if parsed.is_local else (s3 or parsed.s3)
        self._parsed = parsed
        self._backend: LocalBackend | S3Backend = (
            LocalBackend() if self.s3 is None else S3Backend(self.s3)
        )

    # -- paths ---------------------------------------------------------------------------
    def path(self, key: str) -> str:
        """The filesystem path of a key (a local path for local stores, bucket/key on S3)."""
        key = key.strip("/")
        if ".." in key.split("/"):
            raise StorageError(f"key {key!r} escapes the store root {self.uri}")
        return f"{self.root}/{key}" if key else self.root

    def uri_of(self, key: str) -> str:
        """The full URI (with connection options) of `key`, e.g. for `read_tasks`."""
        return self._parsed.with_root(self.path(key))

    def child(self, prefix: str) -> Store:
        """A store rooted at `prefix` under this one, with the same connection options."""
        return Store(self._parsed.with_root(self.path(prefix)), s3=self.s3)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable into Ray tasks
        return (Store, (self.uri, self.s3))

    # -- retries -------------------------------------------------------------------------
    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        """Run one idempotent backend call, retrying transient faults a bounded number of
        times; FileNotFoundError passes through, anything else becomes a StorageError."""
        attempts = 1 if self.s3 is None else max(1, self.s3.max_attempts)
        start = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except FileNotFoundError:
                raise
            except OSError as exc:
                if not isinstance(exc, TransientError) or attempt == attempts:
                    spent = time.monotonic() - start
                    where = f" (endpoint {self.s3.endpoint_override})" if self.s3 else ""
                    tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    raise StorageError(
                        f"cannot {op} {self._parsed.base}{where} key {key!r}: "
                        f"gave up after {tries} in {spent:.1f}s: {exc}"
                    ) from exc
                delay = min(self.s3.retry_delay_s * 2 ** (attempt - 1), 2.0)  # type: ignore[union-attr]
                log.warning("%s %s key %r failed (attempt %d/%d), retrying in %.1fs: %s",
                            op, self._parsed.base, key, attempt, attempts, delay, exc)  # fmt: skip
                time.sleep(delay)
        raise AssertionError("unreachable")

    # -- bytes ---------------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes) -> None:
        """Atomically publish `data` under `key` (replacing any earlier value)."""
        target = self.path(key)
        self._call("write", key, lambda: self._backend.put(target, data))

    def write_once(self, key: str, data: bytes) -> bool:
        """Idempotent content-keyed write: publish unless `key` exists. True if written.

        For keys from `result_key(...)`, an existing key already holds this content.
        """
        if self.exists(key):
            return False
        self.write_bytes(key, data)
        return True

    def read_bytes(self, key: str) -> bytes:
        """The bytes under `key`; KeyError if there are none."""
        target = self.path(key)
        try:
            return self._call("read", key, lambda: self._backend.get(target))
        except FileNotFoundError as exc:
            raise KeyError(f"{key!r} not found in {self._parsed.base}") from exc

    def exists(self, key: str) -> bool:
        return self._size(key) is not None

    def size(self, key: str) -> int:
        size = self._size(key)
        if size is None:
            raise KeyError(f"{key!r} not found in {self._parsed.base}")
        return size

    def _size(self, key: str) -> int | None:
        target = self.path(key)
        return self._call("stat", key, lambda: self._backend.size(target))

    def delete(self, key: str) -> None:
        """Delete `key` if present (deleting a missing key is not an error)."""
        target = self.path(key)
        with contextlib.suppress(FileNotFoundError):
            self._call("delete", key, lambda: self._backend.delete(target))

    def list(self, prefix: str = "", *, suffix: str = "") -> Iterator[str]:
        """Keys under `prefix` ending in `suffix` (files only, recursive, sorted), relative
        to the store root. Finished results only: temporary files are never listed."""
        base = self.path(prefix)
        paths = self._call("list", prefix, lambda: list(self._backend.list(base)))
        start = len(self.root) + 1
        return iter(sorted(p[start:] for p in paths if p.endswith(suffix)))

    def done_keys(self, prefix: str = "", *, suffix: str = "") -> set[str]:
        """The set of finished keys under `prefix`, for a resuming stage to skip."""
        return set(self.list(prefix, suffix=suffix))

    def check_writable(self) -> None:
        """Fail now, not after hours of work, when nothing can be written under the root:
        a local root that is an existing file (or under one), a directory that cannot be
        created or written, a bucket that refuses writes. Writes and deletes a probe key
        (creating a missing local root directory)."""
        if self.is_local and os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StorageError(f"{self.uri} is an existing file, not a directory")
        probe = f".swelego-probe-{uuid.uuid4().hex[:12]}"
        try:
            self.write_bytes(probe, b"")
        except FileNotFoundError as exc:  # e.g. a directory that cannot exist there
            raise StorageError(f"cannot create {self.uri}: {exc}") from exc
        self.delete(probe)

    # -- JSON ----------------------------------------------------------------------------
    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, json.dumps(obj, indent=1, sort_keys=True, default=str).encode())

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"


def read_source(path_or_uri: str, what: str = "file") -> bytes:
    """The bytes of one input file: a local path or an s3:// URI (FileNotFoundError naming
    it when missing)."""
    if not str(path_or_uri).startswith("s3://"):
        try:
            with open(path_or_uri, "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError):
            raise FileNotFoundError(f"{what} not found: {path_or_uri}") from None
    from swelego_ray.storage._uri import split_uri

    parent, name = split_uri(str(path_or_uri))
    try:
        return Store(parent).read_bytes(name)
    except KeyError:
        raise FileNotFoundError(f"{what} not found: {path_or_uri}") from None


def writable_store(uri: str) -> Store:
    """The store at `uri` (an output location given by a user), refused with a ValueError
    naming it when nothing can be written there (see `Store.check_writable`)."""
    store = Store(uri)
    try:
        store.check_writable()
    except StorageError as exc:
        raise ValueError(f"cannot write the results to {uri}: {exc}") from exc
    return store
