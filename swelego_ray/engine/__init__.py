"""The stage engine every stage runs on: Ray Data actor pools with per-item deadlines,
failures recorded per item, resume by content keys, partial outputs, resource checks, a
progress bar and the funnel; plus an async entry point for Ray Serve.

    from swelego_ray.engine import EngineConfig, run_items, stateless
    run = run_items(items, stateless(fn), stage="evaluate", item_id=..., key=..., store=...)

`fn(item, ctx)` returns an ItemOutput (a record plus files) or a record dict; `ctx` lets it
publish partial output. A worker factory (`make_worker`) instead of `stateless(fn)` builds
what an actor keeps between items.
"""

from swelego_ray.engine._runner import WorkerFactory, stateless
from swelego_ray.engine.async_run import run_item_async, run_items_async
from swelego_ray.engine.config import EngineConfig
from swelego_ray.engine.pipeline import Pipeline, StageRun, run_items
from swelego_ray.engine.records import (
    ItemContext,
    ItemFailure,
    ItemFunction,
    ItemOutput,
    ItemResult,
    attachment_key,
    partial_key,
)
from swelego_ray.engine.resources import UnschedulableError, require_resources

__all__ = [
    "EngineConfig",
    "ItemContext",
    "ItemFailure",
    "ItemFunction",
    "ItemOutput",
    "ItemResult",
    "Pipeline",
    "StageRun",
    "UnschedulableError",
    "WorkerFactory",
    "attachment_key",
    "partial_key",
    "require_resources",
    "run_item_async",
    "run_items",
    "run_items_async",
    "stateless",
]
