"""The engine's Ray Data tuning: the executor's wait returns at the first task that ends
(without spinning on what it does not take), and a pipeline's workers all start at once
(its resource limits known before the first step)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from swelego_ray.engine import EngineConfig, run_items, stateless
from swelego_ray.engine._raydata import (
    _MAX_QUICK,
    IDLE_WAKE_S,
    _PromptWait,
    data_context,
    prime_resource_limits,
)


@dataclass
class FakeRay:
    """Ray's `wait` over refs that are ready or not (a test double: no cluster needed)."""

    ready: set[str] = field(default_factory=set)
    calls: list[tuple[int, float | None]] = field(default_factory=list)
    other: str = "something else of Ray"

    def wait(self, refs, *, num_returns=1, timeout=None, fetch_local=True):
        self.calls.append((num_returns, timeout))
        done = [r for r in refs if r in self.ready]
        if len(done) < num_returns and timeout:  # the real one would block until then
            return done, [r for r in refs if r not in done]
        done = done[:num_returns]
        return done, [r for r in refs if r not in done]


def test_the_wait_returns_at_the_first_task_that_ends_and_takes_every_ended_one():
    fake = FakeRay(ready={"a", "c"})
    prompt = _PromptWait(fake)
    ready, rest = prompt.wait(["a", "b", "c"], num_returns=3, timeout=0.1, fetch_local=False)
    assert ready == ["a", "c"] and rest == ["b"]
    assert fake.calls == [(1, IDLE_WAKE_S), (3, 0)]  # woken by the first, then all ended
    assert prompt.other == "something else of Ray"  # everything else is Ray's own
    fake.calls.clear()
    prompt.wait(["a"], num_returns=1, timeout=5)  # not the executor's wait for every task
    prompt.wait(["a", "b"], num_returns=1, timeout=5)
    assert fake.calls == [(1, IDLE_WAKE_S), (1, 5)]


def test_the_wait_does_not_spin_on_outputs_the_executor_leaves_ready():
    fake = FakeRay(ready={"a"})
    prompt = _PromptWait(fake)
    for _ in range(_MAX_QUICK + 1):
        prompt.wait(["a", "b"], num_returns=2, timeout=0.1)
    fake.calls.clear()
    prompt.wait(["a", "b"], num_returns=2, timeout=0.1)  # one of Ray Data's own waits
    assert fake.calls == [(2, 0.1)]


@dataclass
class FakeResources:
    cpu: float


class FakeAutoscaler:
    """Answers with no resources until `answers_after` calls (a test double)."""

    def __init__(self, answers_after: int) -> None:
        self.calls, self.answers_after = 0, answers_after

    def get_total_resources(self) -> FakeResources:
        self.calls += 1
        return FakeResources(cpu=2.0 if self.calls > self.answers_after else 0.0)


@dataclass
class FakeExecutor:
    _cluster_autoscaler: Any
    _resource_manager: Any


@dataclass
class FakeManager:
    _global_limits_last_update_time: float = 123.0


def test_limits_are_primed_before_the_first_step():
    executor = FakeExecutor(FakeAutoscaler(answers_after=3), FakeManager())
    assert prime_resource_limits(executor, timeout_s=5)
    assert executor._resource_manager._global_limits_last_update_time == 0  # read at once
    never = FakeExecutor(FakeAutoscaler(answers_after=10**9), FakeManager())
    assert not prime_resource_limits(never, timeout_s=0.05)
    assert not prime_resource_limits(object(), timeout_s=5)  # a Ray Data without these parts


def test_the_data_context_is_restored():
    from ray.data import DataContext

    ctx = DataContext.get_current()
    before = (list(ctx.custom_execution_callback_classes), ctx.memory_usage_poll_interval_s)
    with data_context():
        assert len(ctx.custom_execution_callback_classes) == len(before[0]) + 1
        assert ctx.memory_usage_poll_interval_s is None
    assert (list(ctx.custom_execution_callback_classes), ctx.memory_usage_poll_interval_s) == before


ITEM_S = 2.5  # longer than a loaded machine's worker start-up, so "at once" shows


def _started_at(item: int, ctx) -> dict[str, float]:
    start = time.monotonic()  # one clock for every process of the machine
    time.sleep(ITEM_S)
    return {"start": start, "pid": os.getpid()}


def test_every_worker_starts_at_once(ray_local):
    """Ray Data read its resource limits a second after the start: one worker ran alone
    until then (or until the first item ended). Both items now run at once, in two
    worker processes (the priming itself: the unit tests above; CI's loaded 2 cores put
    0.78 s between two prompt starts, so the gap is bounded by the item, not by 0.7 s)."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = EngineConfig(workers=2, cpus_per_item=1, progress=False)
    run = run_items([0, 1], stateless(_started_at), stage="t", item_id=str, config=cfg)
    starts = [r.record["start"] for r in run.results]
    assert all(r.ok for r in run.results)
    assert len({r.record["pid"] for r in run.results}) == 2
    assert abs(starts[0] - starts[1]) < ITEM_S  # the second started before the first ended
