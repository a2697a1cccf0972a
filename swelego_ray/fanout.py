"""Fan a per-item function out over Ray tasks, with deadlines, resume and a funnel.

Shared by validation, evaluation and rollouts. Each item runs as one Ray task (at most
`workers` in flight; warm tasks beat a small actor pool on 2 cores: 100 subprocess items
of 0.22 s took 13-17 s on an actor pool of 2, whose ~2 s actor starts dominate, and
3.2 s as warm tasks with 8 in flight) under a host-side deadline: an item past it is
force-cancelled (its worker process is killed) and recorded as `item_timeout`. An item
that raises or whose worker dies is recorded with its reason; neither aborts the batch.
Nor does an item Ray never starts (its node went away first and no live node can take
it) or whose output never arrives: no wait blocks for more than a second, and such items
are recorded as `item_lost`. With a store and a key per item, finished items are written
as they complete and skipped on the next run, so a killed run resumes where it stopped.
`in_process=True` runs items one by one in this process, for debugging (no host-side
deadline there: the sandbox's own per-command deadlines still apply).
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.funnel import Funnel
from swelego_ray.storage import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")

ITEM_TIMEOUT = "item_timeout"
ITEM_ERROR = "item_error"  # the function raised
WORKER_CRASHED = "worker_crashed"  # the process running the item died
ITEM_LOST = "item_lost"
"""The item never started, or its output never reached the driver, though its task ended:
its node went away first and no live node can take it, or Ray lost the task (see
`FanoutConfig.start_timeout_s`). Says nothing about the item itself: a rerun retries it."""


class FanoutConfig(BaseModel):
    """How to run a batch of items."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1)
    """Items in flight at once."""
    item_timeout_s: float | None = Field(None, gt=0)
    """Host-side deadline per item, counted from when it starts running (time spent
    waiting for a free CPU or a new node does not count); None: no deadline."""
    start_timeout_s: float | None = Field(900.0, gt=0)
    """Longest an item may wait to start when busy nodes do not explain the wait: time
    counts while no live node could run it (its node went away, or the autoscaler is still
    bringing one up: keep this above the node start-up time) or while one has its
    resources free (Ray lost the task), not while it is queued behind running work. Past
    it the item is recorded as `item_lost`; None: no limit."""
    cpus_per_item: float = Field(1.0, gt=0)
    """Ray logical CPUs each item reserves (lower it to oversubscribe I/O-bound items)."""
    resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources each item reserves, e.g. {"sandbox": 1} so that items land on
    (and autoscale) the cluster's sandbox nodes (cluster/node_types.yaml)."""
    in_process: bool = False
    """Run items sequentially in this process (debugging; no host-side deadline)."""
    ray_address: str | None = None
    """Ray cluster to join; None starts (or reuses) a local Ray on loopback."""
    progress: bool = True
    """Show a rich progress bar on stderr."""


class ItemOutput(BaseModel):
    """What an item function returns: a JSON record, plus text files stored beside it."""

    model_config = ConfigDict(extra="forbid")

    record: dict[str, Any]
    files: dict[str, str] = Field(default_factory=dict)  # suffix -> text, e.g. "test.log"


class ItemResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str
    key: str | None = None
    ok: bool
    cached: bool = False  # reused from an earlier run
    record: dict[str, Any] | None = None
    reason: str | None = None  # ITEM_TIMEOUT / ITEM_ERROR / WORKER_CRASHED / ITEM_LOST
    error: str = ""  # exception text and traceback tail
    duration_s: float = 0.0


@dataclass
class FanoutRun(Generic[T]):
    results: list[ItemResult]
    funnel: Funnel
    items: list[T] = field(default_factory=list)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if not r.ok]


def attachment_key(key: str, suffix: str) -> str:
    """Where a file attached to the result at `key` is stored (`.../<hash>.<suffix>`)."""
    return f"{key.removesuffix('.json')}.{suffix}"


def _call(fn: Callable[[Any], ItemOutput | dict], item: Any) -> dict[str, Any]:
    """Run one item, turning any exception into data (tracebacks survive pickling)."""
    start = time.monotonic()
    try:
        out = fn(item)
        out = out if isinstance(out, ItemOutput) else ItemOutput(record=out)
        return {"ok": True, "output": out.model_dump(), "duration_s": time.monotonic() - start}
    except Exception as exc:
        tail = "".join(traceback.format_exception(exc)[-6:])
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}\n{tail}",
            "duration_s": time.monotonic() - start,
        }


def fan_out(
    items: Sequence[T],
    fn: Callable[[T], ItemOutput | dict[str, Any]],
    *,
    stage: str,
    item_id: Callable[[T], str],
    key: Callable[[T], str] | None = None,
    store: Store | None = None,
    config: FanoutConfig | None = None,
    reuse: Callable[[dict[str, Any]], bool] | None = None,
) -> FanoutRun[T]:
    """Run `fn` on every item; returns one ItemResult per item, in input order.

    With `store` and `key`, an item whose key exists (and passes `reuse`, if given) is not
    run again, and each finished item's record is written under its key (attached files
    first, so the record's presence means the item is complete)."""
    config = config or FanoutConfig()
    funnel = Funnel(stage)
    results: list[ItemResult | None] = [None] * len(items)
    todo: list[int] = []
    for i, item in enumerate(items):
        k = key(item) if key and store else None
        if k is not None and store is not None and store.exists(k):
            record = store.read_json(k)
            if reuse is None or reuse(record):
                results[i] = ItemResult(
                    item_id=item_id(item), key=k, ok=True, cached=True, record=record
                )
                funnel.keep(cached=True)
                continue
        todo.append(i)

    def finish(i: int, raw: dict[str, Any] | None, reason: str | None, error: str = "") -> None:
        item = items[i]
        k = key(item) if key and store else None
        if raw is not None and raw["ok"]:
            out = ItemOutput.model_validate(raw["output"])
            try:
                if k is not None and store is not None:
                    _store_output(store, k, out)
            except ValueError as exc:  # e.g. text no codec encodes: this item fails, not all
                detail = "".join(traceback.format_exception(exc)[-4:])
                raw = {**raw, "ok": False, "error": f"cannot store the result: {detail}"}
                return finish(i, raw, None)
            results[i] = ItemResult(
                item_id=item_id(item),
                key=k,
                ok=True,
                record=out.record,
                duration_s=raw["duration_s"],
            )
            funnel.keep()
            return
        if raw is not None:
            reason, error = ITEM_ERROR, raw["error"]
        results[i] = ItemResult(
            item_id=item_id(item),
            key=k,
            ok=False,
            reason=reason,
            error=error,
            duration_s=(raw or {}).get("duration_s", 0.0),
        )
        funnel.drop(reason or ITEM_ERROR)
        logger.warning("%s: item %s failed (%s): %s", stage, item_id(item), reason, error[:300])

    with _progress(config.progress, stage, len(items), len(items) - len(todo)) as advance:
        if config.in_process:
            for i in todo:
                finish(i, _call(fn, items[i]), None)
                advance()
        else:
            _RayBatch(items, fn, config, finish, advance).run(todo)
    logger.info("%s", funnel.render())
    return FanoutRun(
        results=[r for r in results if r is not None], funnel=funnel, items=list(items)
    )


def _store_output(store: Store, key: str, out: ItemOutput) -> None:
    """Write an item's files, then its record (its presence means the item is done)."""
    for suffix, text in out.files.items():
        store.write_bytes(attachment_key(key, suffix), text.encode())
    store.write_json(key, out.record)


_STARTED = "__swelego_item_started__"
_POLL_S = 1.0  # the longest single wait: deadlines and lost tasks are looked at this often
_CHECK_S = 2.0  # how often pending tasks' completion and the cluster's capacity are read
_LOST_GRACE_S = 5.0  # how long an ended task's last output may trail its completion


def _stream(fn: Callable[[Any], ItemOutput | dict], item: Any) -> Iterator[Any]:
    """The Ray task: first says it started (so the deadline counts from there, not from
    submission: on an autoscaling cluster an item may wait minutes for a node), then
    yields the result."""
    yield _STARTED
    yield _call(fn, item)


@dataclass
class _Pending:
    """A submitted item, as the driver knows it."""

    index: int
    submitted: float
    started: bool = False
    deadline: float = math.inf  # set when it starts
    unstarted_s: float = 0.0  # not-started time counted toward start_timeout_s
    ended_at: float | None = None  # when its task was first seen ended, output missing


class _RayBatch:
    """The driver loop: at most `workers` items in flight, every wait at most _POLL_S."""

    def __init__(self, items, fn, config: FanoutConfig, finish, advance) -> None:
        import ray

        from swelego_ray._ray import init_ray

        init_ray(config.ray_address)
        self.ray, self.items, self.fn, self.config = ray, items, fn, config
        self.finish, self.advance = finish, advance
        self.remote = ray.remote(_stream).options(
            num_cpus=config.cpus_per_item,
            resources=config.resources or None,
            max_retries=0,
            num_returns="streaming",
        )
        self.demand = {"CPU": config.cpus_per_item, **config.resources}
        self.crashes = (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError,
        )
        self.pending: dict[Any, _Pending] = {}  # generator -> its item's state

    def run(self, todo: list[int]) -> None:
        ray, pending, queue = self.ray, self.pending, list(todo)
        last_check = time.monotonic()
        while queue or pending:
            while queue and len(pending) < self.config.workers:
                i = queue.pop(0)
                pending[self.remote.remote(self.fn, self.items[i])] = _Pending(i, time.monotonic())
            wait_s = min(p.deadline for p in pending.values()) - time.monotonic()
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=min(max(wait_s, 0), _POLL_S))
            if ready:  # take every output that is ready, not one per round
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for gen in ready:
                self._take(gen)
            now = time.monotonic()
            for gen, p in list(pending.items()):
                if p.deadline <= now:
                    self._drop(
                        gen, ITEM_TIMEOUT, f"no result within {self.config.item_timeout_s} s"
                    )
            if pending and now - last_check >= _CHECK_S:
                for gen, reason, error in self._lost(now, now - last_check):
                    self._drop(gen, reason, error)
                last_check = now

    def _take(self, gen: Any) -> None:
        """Read the generator's next output: the start marker, the result or an error."""
        p = self.pending[gen]
        try:
            value = self.ray.get(next(gen))
        except StopIteration:  # the task ended without yielding what was still due
            self._drop(gen, ITEM_LOST, f"its task ended without reporting {_missing(p)}")
            return
        except self.crashes as exc:
            self._drop(gen, WORKER_CRASHED, _text(exc))
            return
        except self.ray.exceptions.RayError as exc:
            self._drop(gen, ITEM_ERROR, _text(exc))
            return
        if value == _STARTED:
            p.started = True
            p.deadline = time.monotonic() + (self.config.item_timeout_s or math.inf)
            return
        del self.pending[gen]
        self.finish(p.index, value, None)
        self.advance()

    def _drop(self, gen: Any, reason: str, error: str) -> None:
        p = self.pending.pop(gen)
        try:
            self.ray.cancel(gen, force=True)  # kills the worker process if the item is running
        except Exception as exc:  # an ended or lost task: nothing left to stop
            logger.debug("cancelling item %d: %s", p.index, exc)
        self.finish(p.index, None, reason, error)
        self.advance()

    def _lost(self, now: float, elapsed: float) -> list[tuple[Any, str, str]]:
        """Items to give up on: the task ended but its output never came (after a grace),
        or it has not started for start_timeout_s while it could have (see the config)."""
        ray, lost = self.ray, []
        done = {gen.completed(): gen for gen in self.pending}
        ended, _ = ray.wait(list(done), num_returns=len(done), timeout=0, fetch_local=False)
        for ref in ended:
            gen, p = done[ref], self.pending[done[ref]]
            if p.ended_at is None:
                p.ended_at = now
            elif now - p.ended_at >= _LOST_GRACE_S:
                lost.append((gen, *self._ended_without_output(ref, p)))
        limit = self.config.start_timeout_s
        waiting = [(g, p) for g, p in self.pending.items() if not p.started and p.ended_at is None]
        if limit is None or not waiting:
            return lost
        room = _room(self.demand)
        if room == "busy":  # queued behind running work: not lost, just waiting
            return lost
        for gen, p in waiting:
            p.unstarted_s += min(elapsed, now - p.submitted)
            if p.unstarted_s >= limit:
                lost.append((gen, ITEM_LOST, _not_started(p, room, self.demand)))
        return lost

    def _ended_without_output(self, ref: Any, p: _Pending) -> tuple[str, str]:
        why = f"its task ended but {_missing(p)} never reached the driver"
        try:
            self.ray.get(ref, timeout=_POLL_S)
        except self.crashes as exc:
            return WORKER_CRASHED, f"{why}: {_text(exc)}"
        except Exception as exc:
            return ITEM_LOST, f"{why}: {_text(exc)}"
        return ITEM_LOST, why


def _missing(p: _Pending) -> str:
    return "its result" if p.started else "that it started (nor a result)"


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:2000]}"


def _not_started(p: _Pending, room: str, demand: dict[str, float]) -> str:
    asks = ", ".join(f"{k} {v:g}" for k, v in demand.items())
    if room == "none":
        why = (
            f"no live node has the resources it asks for ({asks}): its node went away"
            " before it started, or the autoscaler brought up none"
        )
    elif room == "free":
        why = f"a live node had the resources it asks for ({asks}) free: Ray lost the task"
    else:
        why = "the cluster's resources could not be read"
    return f"not started after {p.unstarted_s:.0f} s of waiting that counts: {why}"


def _room(demand: dict[str, float]) -> str:
    """Where an item asking for `demand` could run now: "free" (a live node has it free),
    "busy" (live nodes could fit it but none has it free), "none" (no live node could)
    or "unknown" (the cluster's resources could not be read)."""
    from ray._private import state  # DeveloperAPI per-node views; no dashboard needed

    def fits(have: dict[str, float]) -> bool:
        return all(have.get(k, 0.0) >= v - 1e-9 for k, v in demand.items())

    try:
        totals = state.total_resources_per_node()  # live nodes only
        if not any(fits(t) for t in totals.values()):
            return "none"
        free = state.available_resources_per_node()
    except Exception as exc:  # the GCS did not answer: count the wait rather than hang
        logger.warning("reading the cluster's resources failed: %s", exc)
        return "unknown"
    return "free" if any(fits(a) for n, a in free.items() if n in totals) else "busy"


class _progress:
    """A rich progress bar (or nothing); yields a function that advances it by one."""

    def __init__(self, enabled: bool, stage: str, total: int, done: int) -> None:
        self.enabled, self.stage, self.total, self.done = enabled, stage, total, done
        self.bar = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        task = self.bar.add_task(self.stage, total=self.total, completed=self.done)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


__all__ = [
    "ITEM_ERROR",
    "ITEM_LOST",
    "ITEM_TIMEOUT",
    "WORKER_CRASHED",
    "FanoutConfig",
    "FanoutRun",
    "ItemOutput",
    "ItemResult",
    "attachment_key",
    "fan_out",
]
