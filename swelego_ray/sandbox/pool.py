"""A warm pool: keeps `size` started sandboxes per environment so `acquire` rarely waits.

The idea of SkyRL's and rLLM's sandbox pools: start latency (container creation, a fresh
workspace) is paid in a background thread while the caller works with the previous one.
Each acquired sandbox belongs to the caller, who closes it; the pool starts a replacement.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from swelego_ray.sandbox._backend import SandboxBackend
from swelego_ray.sandbox._protocol import Limits, Sandbox, SandboxError
from swelego_ray.schema import Environment

logger = logging.getLogger(__name__)


@dataclass
class PoolStats:
    hits: int = 0  # acquired from the pool, no wait
    misses: int = 0  # started on demand
    started: int = 0  # started by the background thread
    failures: list[str] = field(default_factory=list)  # background start errors


class SandboxPool:
    """Ready sandboxes per Environment (one Limits for the whole pool)."""

    def __init__(self, backend: SandboxBackend, *, size: int = 2, limits: Limits | None = None):
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self.backend, self.size, self.limits = backend, size, limits
        self.stats = PoolStats()
        self._ready: dict[str, queue.SimpleQueue[Sandbox]] = defaultdict(queue.SimpleQueue)
        self._envs: dict[str, Environment] = {}
        self._todo: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._refill_loop, name="sandbox-pool", daemon=True)
        self._worker.start()

    def warm(self, env: Environment) -> None:
        """Prepare `env` (build if needed) and start filling its pool in the background."""
        self.backend.prepare(env)
        with self._lock:
            self._envs[env.key] = env
        self._todo.put(env.key)

    def acquire(self, env: Environment) -> Sandbox:
        """A ready sandbox for `env` if one is waiting, else one started now."""
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        with self._lock:
            self._envs.setdefault(env.key, env)
        try:
            sandbox = self._ready[env.key].get_nowait()
            self.stats.hits += 1
        except queue.Empty:
            sandbox = self.backend.start(env, self.limits)
            self.stats.misses += 1
        self._todo.put(env.key)
        return sandbox

    def ready(self, env: Environment) -> int:
        return self._ready[env.key].qsize()

    def _refill_loop(self) -> None:
        while True:
            key = self._todo.get()
            if key is None or self._closed:
                return
            env = self._envs[key]
            while not self._closed and self._ready[key].qsize() < self.size:
                try:
                    sandbox = self.backend.start(env, self.limits)
                except Exception as err:  # recorded and reported; acquire() starts on demand
                    self.stats.failures.append(f"{key}: {err}")
                    logger.warning("pool could not start a sandbox for %s: %s", key, err)
                    break
                self.stats.started += 1
                with self._lock:
                    if not self._closed:
                        self._ready[key].put(sandbox)
                        continue
                sandbox.close()
                return

    def close(self) -> None:
        """Stop refilling and close every sandbox still waiting (acquired ones are the
        callers' to close)."""
        with self._lock:
            self._closed = True
        self._todo.put(None)
        self._worker.join(timeout=30)
        for ready in self._ready.values():
            while True:
                try:
                    ready.get_nowait().close()
                except queue.Empty:
                    break

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
