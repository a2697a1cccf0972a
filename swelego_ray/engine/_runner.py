"""Running one item where it runs (an actor, a Ray task, or this process), turning
everything that can happen to it into an ItemResult, and storing its output."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from swelego_ray.engine._watchdog import ItemDeadline, Watchdog
from swelego_ray.engine.records import (
    ItemFailure,
    ItemFunction,
    ItemOutput,
    ItemResult,
    attachment_key,
    partial_key,
)
from swelego_ray.storage import Store

WorkerFactory = Callable[[], ItemFunction[Any]]
"""Builds the item function once per worker: an actor keeps what it builds (a sandbox
backend, warm sandboxes, a model client) for every item it runs."""


@dataclass(frozen=True)
class Stateless:
    """The worker factory of an item function that keeps nothing between items. The
    engine runs such items as Ray Data tasks on Ray's pooled (warm) worker processes:
    there is nothing an actor would keep, and an actor pool costs new processes per stage
    (each imports Ray Data: ~1.5 s of CPU)."""

    fn: Callable[[Any, Any], Any]

    def __call__(self) -> Callable[[Any, Any], Any]:
        return self.fn


def stateless(fn: Callable[[Any, Any], Any]) -> WorkerFactory:
    """A worker factory for an item function that keeps nothing between items."""
    return Stateless(fn)


def started_key(index: int) -> str:
    return f"started/{index}"


def failed_key(index: int) -> str:
    return f"failed/{index}.json"


def store_output(store: Store, key: str, out: ItemOutput) -> None:
    """Write an item's files, then its record (its presence means the item is done)."""
    for suffix, text in out.files.items():
        store.write_bytes(attachment_key(key, suffix), text.encode())
    store.write_json(key, out.record)


def error_text(exc: BaseException, frames: int = 6) -> str:
    tail = "".join(traceback.format_exception(exc)[-frames:])
    return f"{type(exc).__name__}: {exc}\n{tail}"


@dataclass
class _Context:
    """The ItemContext an item function receives."""

    item_id: str
    index: int
    key: str | None
    store: Store | None
    book: Store
    deadline: float
    published: str | None = None

    def publish(self, partial: ItemOutput) -> None:
        if self.key is not None and self.store is not None:
            target, where = partial_key(self.key), self.store
        else:
            target, where = f"partial/{self.index}.json", self.book
        for suffix, text in partial.files.items():
            where.write_bytes(attachment_key(target.removesuffix(".json"), suffix), text.encode())
        where.write_json(target, partial.record)
        self.published = where.uri_of(target)

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()


class ItemRunner:
    """Runs items one at a time under a deadline; one per worker process."""

    def __init__(
        self,
        make_worker: WorkerFactory,
        *,
        store: Store | None,
        book: Store,
        timeout_s: float | None,
        grace_s: float,
        may_kill: bool = True,
        mark_starts: bool = False,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.fn = make_worker()
        self.store, self.book = store, book
        self.timeout_s, self.mark_starts = timeout_s, mark_starts
        self.watchdog = watchdog or Watchdog(grace_s, may_kill=may_kill)

    def run(self, index: int, item: Any, item_id: str, key: str | None) -> ItemResult:
        """Never raises for anything the item does: failures come back as results."""
        start = time.monotonic()
        limit = self.timeout_s or float("inf")
        ctx = _Context(item_id, index, key, self.store, self.book, start + limit)
        base: dict[str, Any] = {"index": index, "item_id": item_id, "key": key}
        if self.mark_starts:
            self.book.write_bytes(started_key(index), b"")

        def fail(reason: ItemFailure, error: str) -> ItemResult:
            return ItemResult(
                **base,
                ok=False,
                reason=reason,
                error=error,
                duration_s=time.monotonic() - start,
                partial_key=ctx.published,
            )

        def on_kill() -> None:  # the worker is about to exit: leave the verdict behind
            error = (
                f"no result within {self.timeout_s} s, and the item did not stop within"
                f" {self.watchdog.grace_s} s more: its worker process was replaced"
            )
            self.book.write_json(failed_key(index), fail(ItemFailure.ITEM_TIMEOUT, error).to_row())

        try:
            try:
                with self.watchdog.guard(self.timeout_s, on_kill):
                    raw = self.fn(item, ctx)
                out = ItemOutput.of(raw)
            except ItemDeadline:
                return fail(ItemFailure.ITEM_TIMEOUT, f"no result within {self.timeout_s} s")
            except Exception as exc:
                return fail(ItemFailure.ITEM_ERROR, error_text(exc))
            try:
                if key is not None and self.store is not None:
                    store_output(self.store, key, out)
                result = ItemResult(
                    **base, ok=True, record=out.record, duration_s=time.monotonic() - start
                )
                result.to_row()  # the record must travel as JSON
            except (ValueError, TypeError) as exc:  # e.g. text no codec encodes
                return fail(
                    ItemFailure.ITEM_ERROR, f"cannot store the result: {error_text(exc, 4)}"
                )
            return result
        except ItemDeadline:  # delivered a moment after the item returned
            return fail(ItemFailure.ITEM_TIMEOUT, f"no result within {self.timeout_s} s")


__all__ = ["ItemRunner", "Stateless", "WorkerFactory", "stateless", "store_output"]
