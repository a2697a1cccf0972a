"""The stage engine: deadlines (interrupt, then kill), failures recorded per item, resume
from the store, crashed workers retried once, partial outputs, resource checks, the async
entry point, in-process mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from swelego_ray.engine import (
    EngineConfig,
    ItemFailure,
    ItemOutput,
    ItemResult,
    Pipeline,
    UnschedulableError,
    attachment_key,
    partial_key,
    run_item_async,
    run_items,
    stateless,
)
from swelego_ray.storage import Store, result_key


def _work(item: str, ctx) -> ItemOutput:
    if item == "raise":
        raise ValueError("bad item")
    if item == "sleep-in-c":  # one long C call: only killing the worker stops it
        time.sleep(120)
    if item == "busy-python":  # Python code that swallows Exception: interrupted anyway
        while True:
            with contextlib.suppress(Exception):
                sum(range(1000))
    if item == "crash":
        os._exit(3)
    if item == "partial-then-hang":
        ctx.publish(ItemOutput(record={"step": 1}, files={"log.txt": "step 1"}))
        time.sleep(120)
    if item.startswith("sleep"):
        time.sleep(1.5)
    return ItemOutput(record={"item": item, "pid": os.getpid()}, files={"log.txt": f"log {item}"})


def _key(item: str) -> str:
    return result_key("engine-test", item, content=item)


@pytest.fixture
def by_value():
    from ray import cloudpickle

    # Workers cannot import this test module: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_failures_are_recorded_and_the_batch_finishes(ray_local, by_value, tmp_path: Path):
    store = Store(str(tmp_path / "out"))
    items = ["a", "raise", "sleep-in-c", "busy-python", "crash", "b", "partial-then-hang"]
    cfg = EngineConfig(
        workers=3, item_timeout_s=3, kill_grace_s=2, cpus_per_item=0.5, progress=False
    )
    run = run_items(
        items, stateless(_work), stage="t", item_id=str, key=_key, store=store, config=cfg
    )
    by_id = {r.item_id: r for r in run.results}
    assert [r.item_id for r in run.results] == items
    assert by_id["a"].ok and by_id["a"].record["item"] == "a"
    assert by_id["raise"].reason is ItemFailure.ITEM_ERROR
    assert "ValueError: bad item" in by_id["raise"].error
    for item in ("sleep-in-c", "busy-python", "partial-then-hang"):
        assert by_id[item].reason is ItemFailure.ITEM_TIMEOUT, by_id[item]
    assert "its worker process was replaced" in by_id["sleep-in-c"].error
    assert "replaced" not in by_id["busy-python"].error  # interrupted; its worker lives on
    assert by_id["crash"].reason is ItemFailure.WORKER_CRASHED
    assert "twice" in by_id["crash"].error
    assert run.funnel.as_dict()["dropped"] == {
        "item_timeout": 3,
        "item_error": 1,
        "worker_crashed": 1,
    }
    assert store.read_bytes(attachment_key(_key("b"), "log.txt")) == b"log b"
    assert not store.exists(_key("raise"))  # failures are not cached: a rerun retries them
    # the partial output survives the item's timeout, and the result says where it is
    partial = by_id["partial-then-hang"].partial_key
    assert partial == store.uri_of(partial_key(_key("partial-then-hang")))
    assert store.read_json(partial_key(_key("partial-then-hang"))) == {"step": 1}
    assert not any(".engine" in k for k in store.list())  # the engine's notes are cleared

    # resume: finished items are reused, not rerun
    again = run_items(
        ["a", "b", "c"],
        stateless(_work),
        stage="t",
        item_id=str,
        key=_key,
        store=store,
        config=cfg,
    )
    assert [r.cached for r in again.results] == [True, True, False]
    assert again.results[0].record == by_id["a"].record
    assert again.funnel.skipped_cached == 2


def test_actors_keep_what_the_worker_factory_builds(ray_local, by_value):
    """One item function per actor, built once: every item an actor runs sees it."""

    def make_worker():
        built = {"pid": os.getpid(), "at": time.time()}
        return lambda item, ctx: {"item": item, "built": built}

    cfg = EngineConfig(workers=2, cpus_per_item=0.5, items_per_batch=4, progress=False)
    run = run_items([str(i) for i in range(16)], make_worker, stage="t", item_id=str, config=cfg)
    assert all(r.ok for r in run.results)
    builds = {(r.record["built"]["pid"], r.record["built"]["at"]) for r in run.results}
    assert 1 <= len(builds) <= 2  # at most one build per actor, not one per item


def test_in_process_mode_and_reuse_predicate(tmp_path: Path):
    store = Store(str(tmp_path / "out"))
    cfg = EngineConfig(in_process=True, progress=False)
    first = run_items(
        ["x", "raise"],
        stateless(_work),
        stage="t",
        item_id=str,
        key=_key,
        store=store,
        config=cfg,
    )
    assert [r.ok for r in first.results] == [True, False]
    assert first.results[0].record["pid"] == os.getpid()
    # a reuse predicate that refuses the cached record forces a rerun
    again = run_items(
        ["x"],
        stateless(_work),
        stage="t",
        item_id=str,
        key=_key,
        store=store,
        config=cfg,
        reuse=lambda record: False,
    )
    assert not again.results[0].cached


def test_in_process_deadline_interrupts_the_item(tmp_path: Path):
    cfg = EngineConfig(in_process=True, item_timeout_s=1, progress=False)
    run = run_items(["busy-python", "a"], stateless(_work), stage="t", item_id=str, config=cfg)
    assert [r.reason for r in run.results] == [ItemFailure.ITEM_TIMEOUT, None]


def test_deadline_counts_from_start_not_from_submission(ray_local, by_value):
    # each worker takes every logical CPU, so the items run one after another; the last
    # waits ~3 s, longer than its deadline, and must still finish
    cfg = EngineConfig(workers=3, item_timeout_s=2.5, cpus_per_item=4, progress=False)
    run = run_items(
        ["sleep1", "sleep2", "sleep3"], stateless(_work), stage="t", item_id=str, config=cfg
    )
    assert [r.ok for r in run.results] == [True, True, True], run.failed


def test_a_resource_no_node_offers_fails_before_any_work(ray_local, by_value):
    cfg = EngineConfig(resources={"sandbox": 1}, progress=False)
    start = time.monotonic()
    with pytest.raises(UnschedulableError, match=r"sandbox.*no autoscaler can add one"):
        run_items(["a"], stateless(_work), stage="evaluate", item_id=str, config=cfg)
    assert time.monotonic() - start < 5


def test_async_entry_point_runs_the_same_item_functions(ray_local, by_value, tmp_path):
    store = Store(str(tmp_path / "out"))
    cfg = EngineConfig(item_timeout_s=3, kill_grace_s=1, cpus_per_item=0.5, progress=False)

    async def main():
        return await asyncio.gather(
            run_item_async(
                "a", stateless(_work), item_id="a", key=_key("a"), store=store, config=cfg
            ),
            run_item_async("raise", stateless(_work), item_id="raise", config=cfg),
            run_item_async("sleep-in-c", stateless(_work), item_id="slow", config=cfg),
        )

    ok, raised, slow = asyncio.run(main())
    assert ok.ok and ok.record["item"] == "a" and store.exists(_key("a"))
    assert raised.reason is ItemFailure.ITEM_ERROR and "bad item" in raised.error
    assert slow.reason is ItemFailure.ITEM_TIMEOUT


def _add_node(ray, **params):
    """Start one more raylet on 127.0.0.1 and join it to this session's local Ray (what
    ray.cluster_utils.Cluster.add_node does, without owning the head); waits until alive."""
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    node = Node(
        RayParams(
            gcs_address=ray.get_runtime_context().gcs_address,
            node_ip_address="127.0.0.1",
            node_manager_port=0,
            min_worker_port=0,
            max_worker_port=0,
            dashboard_agent_listen_port=None,
            include_log_monitor=False,
            object_store_memory=80 * 1024**2,
            **params,
        ),
        head=False,
        # no atexit / SIGTERM handlers in pytest's process (Ray's would sys.exit(1) on a
        # SIGTERM); the test kills the node itself, and a raylet ends with its GCS
        shutdown_at_exit=False,
    )
    deadline = time.monotonic() + 30
    while not any(n["NodeID"] == node.node_id and n["Alive"] for n in ray.nodes()):
        assert time.monotonic() < deadline, "the extra node did not come up"
        time.sleep(0.1)
    return node


def _remove_my_node(item: str, ctx) -> dict:
    """Items of the lost-node test: "slow" takes its node down as it runs (SIGTERM to its
    raylet, the worker's parent: the node leaves the cluster as when the autoscaler
    removes it); the others just return."""
    import signal

    if item == "slow":
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(60)
    return {"item": item}


def test_items_of_a_node_that_goes_away_are_recorded_not_waited_for(
    ray_local, by_value, tmp_path: Path
):
    """The only node offering "doomed" runs the items one at a time; "slow" removes the
    node as it runs, so nothing can run what is left. The stage must end soon after
    start_timeout_s: "slow" crashed (it had started), an item that finished before the
    kill is kept, one that had not started is lost."""
    node = _add_node(ray_local, num_cpus=1, resources={"doomed": 1})
    store = Store(str(tmp_path / "out"))
    cfg = EngineConfig(
        workers=1, resources={"doomed": 1}, item_timeout_s=60, start_timeout_s=2, progress=False
    )
    start = time.monotonic()
    try:
        run = run_items(
            ["a", "slow", "lost"],
            stateless(_remove_my_node),
            stage="t",
            item_id=str,
            key=_key,
            store=store,
            config=cfg,
        )
    finally:
        node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
    took = time.monotonic() - start
    assert not _running_executions()  # given up means stopped, not left scheduling
    by_id = {r.item_id: r for r in run.results}
    assert by_id["slow"].reason is ItemFailure.WORKER_CRASHED, run.results
    for item in ("a", "lost"):  # Ray Data does not promise an order
        r = by_id[item]
        assert r.ok or r.reason is ItemFailure.ITEM_LOST, r
        assert r.ok == store.exists(_key(item))  # a rerun retries what is not stored
        if not r.ok:
            assert "no live node has what its worker asks for" in r.error
    assert took < 30, took  # start_timeout_s (2 s) after the node went, not an hour


def _running_executions() -> list[str]:
    """Ray Data executions still running in this process (one left behind at
    `ray.shutdown()` ends the process with status 1)."""
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("StreamingExecutor")]


def test_a_caller_that_stops_reading_stops_the_pipeline(ray_local, by_value):
    pipeline = Pipeline(
        [f"sleep{i}" for i in range(6)],
        stateless(_work),
        stage="t",
        item_id=str,
        config=EngineConfig(workers=1, items_per_batch=1, progress=False),
    )
    results = iter(pipeline)
    assert next(results).ok
    results.close()  # what `break` or an exception in the caller's loop does
    assert not _running_executions()


def test_an_item_without_a_row_is_classified_by_what_it_left(tmp_path: Path):
    """After its worker died: a verdict it left (a timeout), a stored result, a start
    marker (crashed) or nothing (lost)."""
    from swelego_ray.engine._runner import failed_key, started_key

    store, book = Store(str(tmp_path / "out")), Store(str(tmp_path / "book"))
    items = ["timed-out", "stored", "started", "never"]
    pipe = Pipeline(items, stateless(_work), stage="t", item_id=str, key=_key, store=store)
    timeout = ItemResult(
        index=0,
        item_id="timed-out",
        ok=False,
        reason=ItemFailure.ITEM_TIMEOUT,
        error="no result within 1 s",
    )
    book.write_json(failed_key(0), timeout.to_row())
    store.write_json(_key("stored"), {"item": "stored"})
    book.write_bytes(started_key(2), b"")
    got = [pipe._lost(i, book) for i in range(4)]
    assert [(r.ok, r.reason) for r in got] == [
        (False, ItemFailure.ITEM_TIMEOUT),
        (True, None),
        (False, ItemFailure.WORKER_CRASHED),
        (False, ItemFailure.ITEM_LOST),
    ]
    assert got[1].record == {"item": "stored"}


def test_the_async_entry_point_from_a_ray_serve_deployment(ray_local, by_value, tmp_path):
    """A Serve replica awaits items the engine runs as Ray tasks (not inside the replica)."""
    import socket

    from ray import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    @serve.deployment(ray_actor_options={"num_cpus": 0})
    class Runner:
        async def __call__(self, items: list[str]) -> list[dict]:
            from swelego_ray.engine import EngineConfig, run_items_async, stateless

            cfg = EngineConfig(workers=2, item_timeout_s=20, cpus_per_item=0.5)
            results = await run_items_async(items, stateless(_work), item_id=str, config=cfg)
            return [r.model_dump(mode="json") for r in results]

    try:
        handle = serve.run(Runner.bind(), name="engine-test", route_prefix=None)
        rows = handle.remote(["a", "raise", "b"]).result(timeout_s=120)
    finally:
        serve.shutdown()
    assert [(r["item_id"], r["ok"], r["reason"]) for r in rows] == [
        ("a", True, None), ("raise", False, "item_error"), ("b", True, None)
    ]  # fmt: skip
    replica_pid = rows[0]["record"]["pid"]
    assert replica_pid != os.getpid()


class _Square(BaseModel):
    n: int
    square: int


def _square(n: int, ctx) -> _Square:
    return _Square(n=n, square=n * n)


def test_item_functions_may_return_their_result_model(tmp_path: Path):
    cfg = EngineConfig(in_process=True, progress=False)
    run = run_items([2, 3], stateless(_square), stage="t", item_id=str, config=cfg)
    assert [r.value(_Square).square for r in run.results] == [4, 9]
    failed = run_items(["x"], stateless(_work), stage="t", item_id=str, config=cfg)
    assert failed.results[0].ok  # "x" is a fine item for _work; now one that raises:
    bad = run_items(["raise"], stateless(_work), stage="t", item_id=str, config=cfg)
    with pytest.raises(ValueError, match="has no result"):
        bad.results[0].value(_Square)


def test_items_per_batch_by_stage_length_and_slow_batches_give_items_back(
    ray_local, by_value, monkeypatch, caplog
):
    """Long stages batch short items; a batch past the budget gives back the items it has
    not started, and they run next, one per batch: none is lost or run twice."""
    from swelego_ray.engine import pipeline

    assert pipeline.auto_items_per_batch(36, workers=2) == 1  # short stage: one per batch
    assert pipeline.auto_items_per_batch(100, workers=2) == 3
    assert pipeline.auto_items_per_batch(10_000, workers=2) == 16
    monkeypatch.setattr(pipeline, "BATCH_BUDGET_S", 0.0)  # every batch past it at once
    cfg = EngineConfig(workers=1, cpus_per_item=0.5, items_per_batch=4, progress=False)
    items = [str(i) for i in range(8)]
    with caplog.at_level("INFO", logger="swelego_ray.engine.pipeline"):
        run = run_items(items, stateless(_work), stage="t", item_id=str, config=cfg)
    assert [r.item_id for r in run.results] == items and all(r.ok for r in run.results)
    assert "6 item(s) of batches past" in caplog.text
