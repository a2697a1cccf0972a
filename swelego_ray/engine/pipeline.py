"""The stage engine: items as a Ray Dataset, per-item work in an actor pool.

    for result in Pipeline(items, make_worker, stage="evaluate", item_id=..., key=...,
                           store=store, config=EngineConfig(workers=8)):
        ...  # ItemResults as they finish; finished items of an earlier run come first

Items go into a Dataset (one block per batch) mapped by `map_batches`: over an actor pool
of `workers` actors when the worker factory builds something to keep (each actor builds
the stage's item function once: a sandbox backend, warm sandboxes, a model client), or as
at most `workers` Ray Data tasks on Ray's pooled, warm processes for `stateless(fn)`.
Items run one at a time under the per-item deadline (`ItemRunner`); a worker writes each
item's files and record to the store as it finishes and sends back a small row, so the
driver holds counts, not outputs. A batch past BATCH_BUDGET_S gives back the items it has
not started; they run in a next pass. What can go wrong stays with the item:

- it raises: `item_error` with the traceback tail;
- it passes its deadline: interrupted, `item_timeout`; an item that does not stop within
  `kill_grace_s` takes its worker down with it (the verdict written first), and Ray Data
  replaces the actor;
- its worker dies (OOM, a crash): Ray Data drops only that actor's in-flight batches
  (`max_errored_blocks=-1`); their items run once more in a second pass, one at a time,
  and if they fail again they are `worker_crashed` (it started) or `item_lost` (Ray lost it).

Resume: with a store and a key per item, an item whose record exists (and passes `reuse`)
is not run again. Only one operator runs on the cluster (the actor pool reads its input
from the driver's blocks), so actors holding every CPU of a 2-core laptop cannot starve
another stage of the pipeline. `in_process=True` runs items here, one by one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import queue
import shutil
import statistics
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from swelego_ray.engine._progress import Progress
from swelego_ray.engine._raydata import data_context, prompt_executor
from swelego_ray.engine._runner import (
    ItemRunner,
    Stateless,
    WorkerFactory,
    failed_key,
    started_key,
)
from swelego_ray.engine._watchdog import shared_watchdog
from swelego_ray.engine.config import EngineConfig
from swelego_ray.engine.records import ItemFailure, ItemResult
from swelego_ray.engine.resources import ResourceWait, require_resources
from swelego_ray.funnel import Funnel
from swelego_ray.storage import Store

logger = logging.getLogger(__name__)

T = TypeVar("T")


@functools.cache
def _row_schema() -> Any:  # pyarrow is imported lazily (the CLI starts faster)
    import pyarrow as pa

    return pa.schema(
        [
            ("index", pa.int64()),
            ("item_id", pa.string()),
            ("key", pa.string()),
            ("ok", pa.bool_()),
            ("cached", pa.bool_()),
            ("record", pa.large_string()),
            ("reason", pa.string()),
            ("error", pa.large_string()),
            ("duration_s", pa.float64()),
            ("partial_key", pa.string()),
            ("deferred", pa.bool_()),  # not run: its batch was past BATCH_BUDGET_S
        ]
    )


BATCH_BUDGET_S = 2.0
"""A batch starts no further item once it has run this long: the rest of it comes back
unrun ("deferred") and runs in a next pass, in batches as many as this holds at the
durations measured. So batching pays off for short items, and a slow item holds its batch
mates back by at most this."""


def _run_batch(runner: ItemRunner, batch: Any, budget_s: float) -> Any:
    """Run a batch's items one at a time (a pyarrow.Table in, one row per item out)."""
    import pyarrow as pa
    from ray import cloudpickle

    start, rows = time.monotonic(), []
    for n, row in enumerate(batch.to_pylist()):
        if n and time.monotonic() - start > budget_s:
            rows.append(_deferred_row(row))
            continue
        item = cloudpickle.loads(row["payload"])
        result = runner.run(row["index"], item, row["item_id"], row["key"] or None)
        rows.append({**result.to_row(), "deferred": False})
    return pa.Table.from_pylist(rows, schema=_row_schema())


def _deferred_row(row: dict[str, Any]) -> dict[str, Any]:
    base = {"index": row["index"], "item_id": row["item_id"], "key": row["key"] or None}
    return {**ItemResult(**base, ok=False).to_row(), "deferred": True}


class ItemActor:
    """The callable class of an actor pool: one ItemRunner per actor process, built once
    (the worker factory's sandboxes, model clients) for every batch the actor runs."""

    def __init__(
        self, make_worker: WorkerFactory, runner_args: dict[str, Any], budget_s: float
    ) -> None:
        self.runner = ItemRunner(make_worker, **runner_args)
        self.budget_s = budget_s

    def __call__(self, batch: Any) -> Any:  # a pyarrow.Table in and out
        return _run_batch(self.runner, batch, self.budget_s)


_TASK_RUNNERS: dict[str, ItemRunner] = {}  # this worker process's runners, by pass
_KEEP_TASK_RUNNERS = 4  # passes of concurrent pipelines a pooled worker keeps a runner for


def run_batch_task(
    batch: Any,
    *,
    run: str,
    make_worker: Stateless,
    runner_args: dict[str, Any],
    budget_s: float,
) -> Any:
    """The Ray Data task of a stateless stage: runs on a pooled worker process, which keeps
    one runner per pass (and one watchdog thread for all) across the tasks it runs."""
    runner = _TASK_RUNNERS.get(run)
    if runner is None:
        while len(_TASK_RUNNERS) >= _KEEP_TASK_RUNNERS:
            _TASK_RUNNERS.pop(next(iter(_TASK_RUNNERS)))
        watchdog = shared_watchdog(runner_args["grace_s"], may_kill=runner_args["may_kill"])
        runner = _TASK_RUNNERS[run] = ItemRunner(make_worker, watchdog=watchdog, **runner_args)
    return _run_batch(runner, batch, budget_s)


@dataclass
class StageRun(Generic[T]):
    """Every item's result, in input order, and the funnel."""

    results: list[ItemResult]
    funnel: Funnel
    items: list[T] = field(default_factory=list)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if not r.ok]


class Pipeline(Generic[T]):
    """Iterate to run the stage; `funnel` holds the counts when iteration ends."""

    def __init__(
        self,
        items: Sequence[T],
        make_worker: WorkerFactory,
        *,
        stage: str,
        item_id: Callable[[T], str],
        key: Callable[[T], str] | None = None,
        store: Store | None = None,
        config: EngineConfig | None = None,
        reuse: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.items, self.make_worker, self.stage = items, make_worker, stage
        self.item_id, self.store = item_id, store
        self.key = key if store is not None else None
        self.config = config or EngineConfig()
        self.reuse = reuse
        self.funnel = Funnel(stage)
        self._stalled: str | None = None  # why the pipeline stopped waiting for a node

    def _key(self, i: int) -> str | None:
        return self.key(self.items[i]) if self.key else None

    def __iter__(self) -> Iterator[ItemResult]:
        todo: list[int] = []
        cached: list[ItemResult] = []
        for i, item in enumerate(self.items):
            k = self._key(i)
            if k is not None and self.store is not None and self.store.exists(k):
                record = self.store.read_json(k)
                if self.reuse is None or self.reuse(record):
                    cached.append(
                        ItemResult(
                            index=i,
                            item_id=self.item_id(item),
                            key=k,
                            ok=True,
                            cached=True,
                            record=record,
                        )
                    )
                    continue
            todo.append(i)
        with Progress(self.config.progress, self.stage, len(self.items), len(cached)) as advance:
            for result in cached:
                self.funnel.keep(cached=True)
                yield result
            runs = self._in_process(todo) if self.config.in_process else self._on_ray(todo)
            for result in runs:
                self._count(result)
                advance(result.ok)
                yield result
        logger.info("%s", self.funnel.render())

    def _count(self, result: ItemResult) -> None:
        if result.ok:
            self.funnel.keep()
            return
        reason = result.reason or ItemFailure.ITEM_ERROR
        self.funnel.drop(reason.value)
        logger.warning(
            "%s: item %s failed (%s): %s", self.stage, result.item_id, reason, result.error[:300]
        )

    def _runner_args(self, book: Store, *, may_kill: bool, mark_starts: bool) -> dict[str, Any]:
        return {
            "store": self.store,
            "book": book,
            "timeout_s": self.config.item_timeout_s,
            "grace_s": self.config.kill_grace_s,
            "may_kill": may_kill,
            "mark_starts": mark_starts,
        }

    def _in_process(self, todo: list[int]) -> Iterator[ItemResult]:
        with _book(None, self.stage) as book:
            runner = ItemRunner(
                self.make_worker, **self._runner_args(book, may_kill=False, mark_starts=False)
            )
            for i in todo:
                yield runner.run(i, self.items[i], self.item_id(self.items[i]), self._key(i))

    def _on_ray(self, todo: list[int]) -> Iterator[ItemResult]:
        if not todo:
            return
        from swelego_ray._ray import init_ray

        init_ray(self.config.ray_address)
        require_resources(self.config.demand, what=f"stage {self.stage!r}")
        with _book(self.store, self.stage) as book:
            queued, per_batch, first = todo, self._per_batch(len(todo)), True
            lost_once: set[int] = set()  # items whose worker died under them once
            while queued:
                seen: set[int] = set()
                deferred: set[int] = set()
                only_retries = not first and lost_once.issuperset(queued)
                passing = self._pass(
                    queued, book, per_batch=per_batch, careful=only_retries, deferred=deferred
                )
                took: list[float] = []
                for result in passing:
                    seen.add(result.index)
                    took.append(result.duration_s)
                    yield result
                if self._stalled is not None:  # nothing more can run: the rest is recorded
                    for i in (i for i in queued if i not in seen):
                        yield self._lost(i, book)
                    return
                unseen = [i for i in queued if i not in seen and i not in deferred]
                again = [i for i in unseen if i not in lost_once and not self._settled(i, book)]
                for i in (i for i in unseen if i not in again):
                    yield self._lost(i, book)
                if again:
                    logger.warning(
                        "%s: %d item(s) lost their worker; running them once more",
                        self.stage,
                        len(again),
                    )
                if deferred:
                    logger.info(
                        "%s: %d item(s) of batches past %.0f s run next, one per batch",
                        self.stage,
                        len(deferred),
                        BATCH_BUDGET_S,
                    )
                lost_once.update(again)
                per_batch = _per_batch_for(took) if first and deferred else 1
                queued, first = sorted(deferred.union(again)), False

    def _per_batch(self, items: int) -> int:
        """Items per batch: the config's, or by the stage's length (see EngineConfig)."""
        if self.config.items_per_batch is not None:
            return self.config.items_per_batch
        return auto_items_per_batch(items, self.config.workers)

    def _settled(self, i: int, book: Store) -> bool:
        """Whether an item without a row left a verdict (a timeout) or a stored result."""
        key = self._key(i)
        stored = key is not None and self.store is not None and self.store.exists(key)
        return stored or book.exists(failed_key(i))

    def _lost(self, i: int, book: Store) -> ItemResult:
        """The result of an item the pipeline gave no row for."""
        base = {"index": i, "item_id": self.item_id(self.items[i]), "key": self._key(i)}
        if book.exists(failed_key(i)):  # its deadline passed and its worker went with it
            return ItemResult.from_row(book.read_json(failed_key(i)))
        key = base["key"]
        if key is not None and self.store is not None and self.store.exists(key):
            # it finished and was stored; only its row was lost (with its node's objects)
            return ItemResult(**base, ok=True, record=self.store.read_json(key))
        why = self._stalled or "Ray gave no result for it, twice (it was retried once)"
        if book.exists(started_key(i)):
            error = f"its worker process died while running it: {why}"
            return ItemResult(**base, ok=False, reason=ItemFailure.WORKER_CRASHED, error=error)
        error = f"it never started: {why}"
        return ItemResult(**base, ok=False, reason=ItemFailure.ITEM_LOST, error=error)

    def _pass(
        self,
        indices: list[int],
        book: Store,
        *,
        per_batch: int,
        careful: bool,
        deferred: set[int],
    ) -> Iterator[ItemResult]:
        """One Ray Data pipeline over `indices`; yields the results that come back and
        adds the items a batch gave back unrun to `deferred`. `careful`: one item in
        flight per actor (a retry of items whose worker died)."""
        import ray
        from ray import cloudpickle

        cfg = self.config
        rows = [
            {
                "index": i,
                "item_id": self.item_id(self.items[i]),
                "key": self._key(i) or "",
                "payload": cloudpickle.dumps(self.items[i]),
            }
            for i in indices
        ]
        batches = math.ceil(len(rows) / per_batch)
        size = max(1, min(cfg.workers, batches))
        runner_args = self._runner_args(book, may_kill=True, mark_starts=True)
        with data_context():
            ds = ray.data.from_items(rows, override_num_blocks=batches)
            with warnings.catch_warnings():  # retries have no named parameter in Ray 2.60
                warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
                if isinstance(self.make_worker, Stateless):
                    ds = _map_tasks(ds, self.make_worker, runner_args, per_batch, size, cfg)
                else:
                    depth = 1 if careful else _in_flight(batches // size)
                    ds = _map_actors(ds, self.make_worker, runner_args, per_batch, size, depth, cfg)
        del rows
        execution = _Execution(ds)
        try:
            with ResourceWait(cfg.demand, cfg.start_timeout_s) as wait:
                while True:
                    try:
                        got = execution.batches.get(timeout=_POLL_S)
                    except queue.Empty:
                        if wait.gave_up is not None:  # stop waiting: the rest is recorded
                            self._stalled = wait.gave_up
                            return
                        continue
                    if got is _END:
                        return
                    if isinstance(got, BaseException):
                        raise got
                    for row in got.to_pylist():
                        if row.pop("deferred"):
                            deferred.add(row["index"])
                            continue
                        yield ItemResult.from_row(row)
        finally:  # also when the caller stops iterating early
            execution.stop()


def _map_actors(
    ds: Any,
    make_worker: WorkerFactory,
    runner_args: dict[str, Any],
    per_batch: int,
    size: int,
    depth: int,
    cfg: EngineConfig,
) -> Any:
    """Batches to an actor pool of `size` actors, `depth` batches queued per actor."""
    import ray

    pool = ray.data.ActorPoolStrategy(  # every worker asked for at once: Ray Data grows
        min_size=size,  # a pool too slowly for short stages; actors that do not fit
        max_size=size,  # yet wait for the autoscaler while the others work
        max_tasks_in_flight_per_actor=depth,
    )
    return ds.map_batches(
        ItemActor,
        fn_constructor_args=(make_worker, runner_args, BATCH_BUDGET_S),
        batch_size=per_batch,
        batch_format="pyarrow",
        compute=pool,
        num_cpus=cfg.cpus_per_item,
        resources=cfg.resources or None,
        max_task_retries=0,  # a dead actor's items are retried by the engine, once
        max_restarts=-1,  # and the actor is replaced
    )


def _map_tasks(
    ds: Any,
    make_worker: Stateless,
    runner_args: dict[str, Any],
    per_batch: int,
    size: int,
    cfg: EngineConfig,
) -> Any:
    """Batches to at most `size` Ray Data tasks at once, on Ray's pooled workers."""
    import ray

    return ds.map_batches(
        run_batch_task,
        fn_kwargs={
            "run": uuid.uuid4().hex,
            "make_worker": make_worker,
            "runner_args": runner_args,
            "budget_s": BATCH_BUDGET_S,
        },
        batch_size=per_batch,
        batch_format="pyarrow",
        compute=ray.data.TaskPoolStrategy(size=size),
        num_cpus=cfg.cpus_per_item,
        resources=cfg.resources or None,
        max_retries=0,  # a dead worker's items are retried by the engine, once
    )


def auto_items_per_batch(items: int, workers: int) -> int:
    """Items per batch when the config leaves it open: 1 unless every worker gets at least
    AUTO_BATCHES_PER_WORKER batches (a long stage), then up to AUTO_MAX_ITEMS_PER_BATCH.
    Short items then pay Ray Data's per-batch cost (~10-15 ms of CPU here) once per batch;
    long ones come back deferred after BATCH_BUDGET_S and run one per batch."""
    return max(1, min(AUTO_MAX_ITEMS_PER_BATCH, items // (workers * AUTO_BATCHES_PER_WORKER)))


def _per_batch_for(durations: list[float]) -> int:
    """Items per batch for the items a first pass deferred: as many as BATCH_BUDGET_S
    holds at the median duration measured (its batches still defer past it)."""
    if not durations:
        return 1
    typical = statistics.median(durations)
    return max(1, min(AUTO_MAX_ITEMS_PER_BATCH, int(BATCH_BUDGET_S / max(typical, 1e-3))))


AUTO_BATCHES_PER_WORKER = 16
AUTO_MAX_ITEMS_PER_BATCH = 16


_END = object()
_POLL_S = 0.5  # the longest the driver waits before it looks at the resource wait again


def _in_flight(batches_per_actor: int) -> int:
    """Batches queued per actor. A deeper queue hides Ray Data's round trip between tasks
    (~50 ms here: it dominates items of tens of milliseconds) but can leave an actor idle
    at the end while another still has its queue: at most (depth - 1) batches of
    `batches_per_actor`. Depth 2 for short stages, up to 8 where that tail is <= 5 %."""
    return min(8, max(2, batches_per_actor // 20))


class _Execution:
    """The Dataset's streaming execution, read by a thread (so that the driver never
    blocks in Ray Data), and stoppable.

    Ray Data stops an execution when its reader reaches the end or drops the iterator. A
    reader blocked on a block that will never come (its node is gone) does neither: the
    executor's thread would go on scheduling in the background, holding actors, and touch
    Ray after `ray.shutdown()`, which ends the whole process with status 1 ("the core
    worker has already been shutdown"). Ray 2.60 has no public handle on the executor, so
    it is caught as the Dataset makes it (`Dataset._create_executor`).
    """

    def __init__(self, ds: Any) -> None:
        self.batches: queue.Queue[Any] = queue.Queue()
        self._executors: list[Any] = []
        create = ds._create_executor

        def create_and_keep() -> Any:
            executor = create()
            self._executors.append(executor)
            return executor

        ds._create_executor = create_and_keep
        self._thread = threading.Thread(target=self._pump, args=(ds,), daemon=True)
        self._thread.start()

    def _pump(self, ds: Any) -> None:
        try:
            with prompt_executor():
                for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                    self.batches.put(batch)
            self.batches.put(_END)
        except BaseException as exc:  # handed to the driver, which raises it
            self.batches.put(exc)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the execution down (its actors too) unless it already ended."""
        if not self._thread.is_alive():
            return
        for executor in self._executors:
            executor.shutdown(force=True)  # its loop ends; the reader sees the end
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.warning("a Ray Data execution did not stop within %.0f s", timeout_s)


@contextlib.contextmanager
def _book(store: Store | None, stage: str) -> Iterator[Store]:
    """Where workers leave what the driver must learn after they die: under the stage's
    store (visible from every node), else a temporary directory (a local run)."""
    if store is not None:
        book = store.child(f".engine/{stage}-{uuid.uuid4().hex[:12]}")
        try:
            yield book
        finally:
            _clear(book)
        return
    root = tempfile.mkdtemp(prefix=f"swelego-engine-{stage}-")
    try:
        yield Store(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _clear(book: Store) -> None:
    if book.is_local:
        shutil.rmtree(book.root, ignore_errors=True)
        return
    for key in book.list():
        book.delete(key)


def run_items(
    items: Sequence[T],
    make_worker: WorkerFactory,
    *,
    stage: str,
    item_id: Callable[[T], str],
    key: Callable[[T], str] | None = None,
    store: Store | None = None,
    config: EngineConfig | None = None,
    reuse: Callable[[dict[str, Any]], bool] | None = None,
) -> StageRun[T]:
    """Run the stage and collect every result, in input order (see `Pipeline`)."""
    pipeline = Pipeline(
        items,
        make_worker,
        stage=stage,
        item_id=item_id,
        key=key,
        store=store,
        config=config,
        reuse=reuse,
    )
    results = sorted(pipeline, key=lambda r: r.index)
    return StageRun(results=results, funnel=pipeline.funnel, items=list(items))


__all__ = [
    "ItemActor",
    "Pipeline",
    "StageRun",
    "auto_items_per_batch",
    "run_batch_task",
    "run_items",
]
