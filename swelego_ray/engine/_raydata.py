"""Ray Data settings for the engine's pipelines, and two start-up and wake-up fixes.

Ray Data (2.60) is tuned for long pipelines of many small tasks; an engine stage is often
a few dozen items of a second each on two workers, where two of its habits cost 10-20 %:

- Its executor loop waits for *every* running task (or 0.1 s) before it hands out the
  next batch, so a worker sat idle after each batch. `prompt_executor` makes that wait
  return at the first task that ends (`_PromptWait`).
- Its resource limits come from an autoscaling coordinator actor, asked without blocking
  and re-read once a second: the first read finds nothing, so a pipeline starts with one
  task and its second worker waits ~1 s. `data_context` adds a callback that waits (at
  most PRIME_TIMEOUT_S) for the coordinator's first answer before the executor starts.

Both reach into Ray Data's private modules; where a later Ray has none of them, nothing is
tuned and the engine works as before, only slower.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

PRIME_TIMEOUT_S = 2.0
"""Longest an execution waits for its first resource limits (typically a few ms)."""


class _PromptWait:
    """Ray as Ray Data's executor loop sees it while engine executions run: its `ray.wait`
    returns at the first task that ends, not when *every* running task has ended or 0.1 s
    passed (`process_completed_tasks` waits for all). That wait left a worker idle
    ~50-100 ms after each batch (13 s of 40 s for 1,000 items of 50 ms on 2 workers);
    polling every 10 ms instead costs the driver ~1 ms of CPU per wake-up, which CPU-bound
    items pay for (3 s of CPU in a 28 s evaluation run). Here the loop wakes on events, and
    at least every IDLE_WAKE_S (each wake-up costs ~1.5 ms of CPU)."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._last_ready = -math.inf
        self._quick = 0  # wake-ups in a row that found something ready at once

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ray, name)

    def wait(self, refs: list[Any], *, num_returns: int = 1, **kwargs: Any) -> Any:
        if num_returns != len(refs):  # not the executor's wait for its tasks
            return self._ray.wait(refs, num_returns=num_returns, **kwargs)
        if num_returns == 1:
            return self._ray.wait(refs, num_returns=1, **{**kwargs, "timeout": IDLE_WAKE_S})
        quick = time.monotonic() - self._last_ready < _QUICK_S
        self._quick = self._quick + 1 if quick else 0
        if self._quick > _MAX_QUICK:  # what is ready is not taken (backpressure): no spin
            self._quick = 0
            return self._ray.wait(refs, num_returns=num_returns, **kwargs)
        ready, rest = self._ray.wait(refs, num_returns=1, **{**kwargs, "timeout": IDLE_WAKE_S})
        if ready and rest:  # take every task that has ended, not one per loop
            ready, rest = self._ray.wait(refs, num_returns=len(refs), **{**kwargs, "timeout": 0})
        if ready:
            self._last_ready = time.monotonic()
        return ready, rest


IDLE_WAKE_S = 0.5
"""The longest the executor loop sleeps with tasks running and none ending (Ray Data's own:
0.1 s); its other work (new limits, a stop) waits at most this."""
_QUICK_S = 0.005
_MAX_QUICK = 8  # a task's end is ~3 events a few ms apart (its block, metadata, the end)
_prompt_lock = threading.Lock()
_prompt_users: list[Any] = []  # Ray Data's own `ray`, saved while engine executions run


def _executor_state_module() -> Any:
    try:
        from ray.data._internal.execution import streaming_executor_state as state
    except ImportError:
        return None
    return state if callable(getattr(getattr(state, "ray", None), "wait", None)) else None


@contextlib.contextmanager
def prompt_executor() -> Iterator[None]:
    """While an engine execution runs, Ray Data's executor wakes when a task ends."""
    state = _executor_state_module()
    if state is None:
        yield
        return
    with _prompt_lock:
        if not _prompt_users:
            _prompt_users.append(state.ray)
            state.ray = _PromptWait(state.ray)
        else:
            _prompt_users.append(_prompt_users[0])
    try:
        yield
    finally:
        with _prompt_lock:
            saved = _prompt_users.pop()
            if not _prompt_users:
                state.ray = saved


def prime_resource_limits(executor: Any, timeout_s: float = PRIME_TIMEOUT_S) -> bool:
    """Wait until the executor's autoscaler knows the cluster's resources, and have its
    resource manager read them at its first step (not a second later). False: not primed
    (no answer in time, or a Ray Data without these parts)."""
    autoscaler = getattr(executor, "_cluster_autoscaler", None)
    manager = getattr(executor, "_resource_manager", None)
    if not hasattr(autoscaler, "get_total_resources") or not hasattr(
        manager, "_global_limits_last_update_time"
    ):
        return False
    deadline = time.monotonic() + timeout_s
    while not _known(autoscaler.get_total_resources()):  # the answer comes in a few ms
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    manager._global_limits_last_update_time = 0  # read the limits again at the next step
    return True


def _known(total: Any) -> bool:
    """Whether the coordinator has answered (a cluster of no CPUs still has object store)."""
    return any(getattr(total, name, 0) for name in ("cpu", "gpu", "object_store_memory"))


@functools.cache
def _priming_callback() -> type | None:
    """The ExecutionCallback class that primes an execution's limits (None: no such API)."""
    try:
        from ray.data._internal.execution.execution_callback import ExecutionCallback
    except ImportError:
        return None

    class PrimeResourceLimits(ExecutionCallback):
        def before_execution_starts(self, executor: Any) -> None:
            if not prime_resource_limits(executor):
                logger.debug("Ray Data's resource limits were not known before the start")

    return PrimeResourceLimits


@contextlib.contextmanager
def data_context() -> Iterator[None]:
    """Ray Data settings for the engine's pipelines (a Dataset copies them when made)."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    saved = (
        ctx.max_errored_blocks,
        ctx.enable_progress_bars,
        ctx.print_on_execution_start,
        ctx.memory_usage_poll_interval_s,
        list(ctx.custom_execution_callback_classes),
    )
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    ctx.max_errored_blocks = -1  # a dead actor's batches are recorded, not fatal
    ctx.enable_progress_bars = False  # the engine shows its own, with counts
    ctx.print_on_execution_start = False  # nor the plan of every pipeline on the console
    ctx.memory_usage_poll_interval_s = None  # no memory-polling thread per task (~2 ms)
    if (priming := _priming_callback()) is not None:
        ctx.custom_execution_callback_classes = [*saved[4], priming]
    data_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        (
            ctx.max_errored_blocks,
            ctx.enable_progress_bars,
            ctx.print_on_execution_start,
            ctx.memory_usage_poll_interval_s,
            ctx.custom_execution_callback_classes,
        ) = saved
        data_log.setLevel(level)


__all__ = ["data_context", "prime_resource_limits", "prompt_executor"]
