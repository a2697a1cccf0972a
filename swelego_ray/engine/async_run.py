"""The engine's async entry point: the same item functions, awaited one by one from an
event loop (a Ray Serve deployment starting K rollouts for one request).

Each item runs as a Ray task asking for the stage's resources (on sandbox nodes, not in
the caller's replica) under the same ItemRunner as the actor pool; the caller awaits its
result. The deadline counts from the item's start, as in the actor pool: the task first
reports that it started (a streaming generator), then its result. It is enforced inside
the task and, as a backstop, by the caller (the task is force-cancelled `kill_grace_s`
after it); waiting for a worker counts against `start_timeout_s` instead. A task whose
worker dies is run once more, then recorded `worker_crashed`. Cancelling the awaiting
coroutine (an early stop, a client that went away) cancels the task too.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from swelego_ray.engine._runner import ItemRunner, WorkerFactory
from swelego_ray.engine.config import EngineConfig
from swelego_ray.engine.records import ItemFailure, ItemResult
from swelego_ray.storage import Store

T = TypeVar("T")


_STARTED = "started"


def _run_remote(
    make_worker: WorkerFactory,
    runner_args: dict[str, Any],
    index: int,
    item: Any,
    item_id: str,
    key: str | None,
) -> Iterator[Any]:
    yield _STARTED
    runner = ItemRunner(make_worker, **runner_args)
    yield runner.run(index, item, item_id, key).to_row()


async def _next(stream: Any, timeout_s: float | None) -> Any:
    """The next value the task yields, within `timeout_s`."""

    async def get() -> Any:
        return await (await stream.__anext__())

    return await asyncio.wait_for(get(), timeout=timeout_s)


async def run_item_async(
    item: T,
    make_worker: WorkerFactory,
    *,
    item_id: str,
    index: int = 0,
    key: str | None = None,
    store: Store | None = None,
    config: EngineConfig | None = None,
) -> ItemResult:
    """Run one item on the cluster and await its result (never raises for the item)."""
    import ray

    cfg = config or EngineConfig()
    book_root = tempfile.mkdtemp(prefix="swelego-engine-async-")
    args = {
        "store": store if key else None,
        "book": Store(book_root),
        "timeout_s": cfg.item_timeout_s,
        "grace_s": cfg.kill_grace_s,
        "may_kill": True,
        "mark_starts": False,
    }
    remote = ray.remote(_run_remote).options(
        num_cpus=cfg.cpus_per_item,
        resources=cfg.resources or None,
        max_retries=1,
        num_returns="streaming",
    )
    backstop = cfg.item_timeout_s + 2 * cfg.kill_grace_s if cfg.item_timeout_s else None
    base = {"index": index, "item_id": item_id, "key": key}
    stream = remote.remote(make_worker, args, index, item, item_id, key)
    started = False
    try:
        await _next(stream, cfg.start_timeout_s)
        started = True
        row = await _next(stream, backstop)
        return ItemResult.from_row(row)
    except TimeoutError:
        ray.cancel(stream, force=True)
        if not started:
            error = f"no worker started it within {cfg.start_timeout_s} s (cancelled)"
            return ItemResult(**base, ok=False, reason=ItemFailure.ITEM_LOST, error=error)
        error = f"no result within {cfg.item_timeout_s} s of its start (its task was cancelled)"
        return ItemResult(**base, ok=False, reason=ItemFailure.ITEM_TIMEOUT, error=error)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError) as exc:
        error = f"its worker died, twice (it was retried once): {exc}"[:2000]
        return ItemResult(**base, ok=False, reason=ItemFailure.WORKER_CRASHED, error=error)
    except ray.exceptions.RayError as exc:
        error = f"{type(exc).__name__}: {str(exc)[:2000]}"
        return ItemResult(**base, ok=False, reason=ItemFailure.ITEM_LOST, error=error)
    except asyncio.CancelledError:  # the caller stopped waiting (early stop, a dropped request)
        ray.cancel(stream, force=True)
        raise
    finally:
        shutil.rmtree(book_root, ignore_errors=True)


async def run_items_async(
    items: Sequence[T],
    make_worker: WorkerFactory,
    *,
    item_id: Callable[[T], str],
    key: Callable[[T], str] | None = None,
    store: Store | None = None,
    config: EngineConfig | None = None,
) -> list[ItemResult]:
    """Every item at once (at most `config.workers` in flight); results in input order."""
    cfg = config or EngineConfig()
    gate = asyncio.Semaphore(cfg.workers)

    async def one(i: int, item: T) -> ItemResult:
        async with gate:
            return await run_item_async(
                item,
                make_worker,
                item_id=item_id(item),
                index=i,
                key=key(item) if key else None,
                store=store,
                config=cfg,
            )

    return list(await asyncio.gather(*(one(i, it) for i, it in enumerate(items))))


__all__ = ["run_item_async", "run_items_async"]
