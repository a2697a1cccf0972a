"""Per-item deadlines inside a worker: interrupt the item, then kill the worker if it
does not stop.

The item runs in the calling thread. At its deadline a watchdog thread raises
`ItemDeadline` in that thread (a BaseException, so `except Exception` in item code does
not swallow it). Python delivers it at the next bytecode, so code blocked in one long C
call (a sleep, a wait with no timeout) does not see it: if the item is still running
`grace_s` later, `on_kill` records the timeout and the whole process exits; the engine
replaces the worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)

KILLED_EXIT_CODE = 70


class ItemDeadline(BaseException):
    """Raised inside an item that ran past its deadline."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Make `thread_id` raise `exc` at its next bytecode (None clears a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None
    )


class Watchdog:
    """One per worker process; guards one item at a time."""

    def __init__(self, grace_s: float, *, may_kill: bool = True) -> None:
        self.grace_s, self.may_kill = grace_s, may_kill
        self._cond = threading.Condition()
        self._deadline = math.inf
        self._thread_id: int | None = None
        self._on_kill: Callable[[], None] = lambda: None
        self._fired = False
        threading.Thread(target=self._loop, name="item-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def guard(self, timeout_s: float | None, on_kill: Callable[[], None]) -> Iterator[None]:
        """Run the body under a deadline `timeout_s` from now (None: no deadline)."""
        with self._cond:
            self._deadline = time.monotonic() + timeout_s if timeout_s else math.inf
            self._thread_id, self._on_kill, self._fired = threading.get_ident(), on_kill, False
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                if self._fired:  # raised too late to matter: drop it if still pending
                    _raise_in(threading.get_ident(), None)
                self._deadline, self._thread_id = math.inf, None
                self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                if self._thread_id is None or now < self._deadline:
                    # no item, or one without a deadline: wait to be told (a wait of
                    # infinite seconds raises OverflowError and would end this thread)
                    idle = self._thread_id is None or self._deadline == math.inf
                    self._cond.wait(None if idle else self._deadline - now)
                    continue
                if not self._fired:
                    self._fired = True
                    _raise_in(self._thread_id, ItemDeadline)
                    self._deadline = now + self.grace_s
                    continue
                if self.may_kill:
                    self._kill()
                self._deadline = math.inf  # in-process: nothing more to do

    def _kill(self) -> None:
        logger.error("an item ignored its deadline for %.0f s: exiting this worker", self.grace_s)
        try:
            self._on_kill()
        finally:
            os._exit(KILLED_EXIT_CODE)


_SHARED: dict[tuple[float, bool], Watchdog] = {}
_SHARED_LOCK = threading.Lock()


def shared_watchdog(grace_s: float, *, may_kill: bool = True) -> Watchdog:
    """This process's watchdog for these settings (a pooled Ray worker runs items of many
    tasks, one at a time: one watchdog thread serves them all)."""
    with _SHARED_LOCK:
        dog = _SHARED.get((grace_s, may_kill))
        if dog is None:
            dog = _SHARED[(grace_s, may_kill)] = Watchdog(grace_s, may_kill=may_kill)
        return dog


__all__ = ["ItemDeadline", "Watchdog", "shared_watchdog"]
