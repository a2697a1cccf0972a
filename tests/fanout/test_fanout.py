"""fan_out: deadlines, failures recorded, resume from the store, in-process mode, items
whose node goes away before they start."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from swelego_ray.fanout import (
    ITEM_ERROR,
    ITEM_LOST,
    ITEM_TIMEOUT,
    WORKER_CRASHED,
    FanoutConfig,
    ItemOutput,
    attachment_key,
    fan_out,
)
from swelego_ray.storage import Store, result_key


def _work(item: str) -> ItemOutput:
    import os
    import time

    if item == "raise":
        raise ValueError("bad item")
    if item == "hang":
        time.sleep(120)
    if item == "crash":
        os._exit(3)
    if item.startswith("sleep"):
        time.sleep(1.5)
    return ItemOutput(record={"item": item, "pid": os.getpid()}, files={"log.txt": f"log {item}"})


def _key(item: str) -> str:
    return result_key("fanout-test", item, content=item)


def test_failures_are_recorded_and_the_batch_finishes(ray_local, tmp_path: Path):
    from ray import cloudpickle

    # Workers cannot import this test module: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    work = _work
    store = Store(str(tmp_path / "out"))
    items = ["a", "raise", "hang", "crash", "b"]
    cfg = FanoutConfig(workers=3, item_timeout_s=5, cpus_per_item=0.5, progress=False)
    run = fan_out(items, work, stage="t", item_id=str, key=_key, store=store, config=cfg)
    by_id = {r.item_id: r for r in run.results}
    assert [r.item_id for r in run.results] == items
    assert by_id["a"].ok and by_id["a"].record["item"] == "a"
    assert (by_id["raise"].reason, by_id["hang"].reason) == (ITEM_ERROR, ITEM_TIMEOUT)
    assert "ValueError: bad item" in by_id["raise"].error
    assert by_id["crash"].reason == WORKER_CRASHED
    assert run.funnel.as_dict()["dropped"] == {ITEM_ERROR: 1, ITEM_TIMEOUT: 1, WORKER_CRASHED: 1}
    assert store.read_bytes(attachment_key(_key("b"), "log.txt")) == b"log b"
    assert not store.exists(_key("raise"))  # failures are not cached: a rerun retries them

    # resume: finished items are reused, not rerun
    again = fan_out(
        ["a", "b", "c"], work, stage="t", item_id=str, key=_key, store=store, config=cfg
    )
    assert [r.cached for r in again.results] == [True, True, False]
    assert again.results[0].record == by_id["a"].record
    assert again.funnel.skipped_cached == 2


def test_in_process_mode_and_reuse_predicate(tmp_path: Path):
    store = Store(str(tmp_path / "out"))
    cfg = FanoutConfig(in_process=True, progress=False)
    first = fan_out(
        ["x", "raise"], _work, stage="t", item_id=str, key=_key, store=store, config=cfg
    )
    assert [r.ok for r in first.results] == [True, False]
    import os

    assert first.results[0].record["pid"] == os.getpid()
    # a reuse predicate that refuses the cached record forces a rerun
    again = fan_out(
        ["x"],
        _work,
        stage="t",
        item_id=str,
        key=_key,
        store=store,
        config=cfg,
        reuse=lambda record: False,
    )
    assert not again.results[0].cached


def test_deadline_counts_from_start_not_from_submission(ray_local):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # each item takes every logical CPU, so the three run one after another; the last
    # waits ~3 s in the queue, longer than its deadline, and must still finish
    cfg = FanoutConfig(workers=3, item_timeout_s=2.5, cpus_per_item=4, progress=False)
    run = fan_out(["sleep1", "sleep2", "sleep3"], _work, stage="t", item_id=str, config=cfg)
    assert [r.ok for r in run.results] == [True, True, True], run.failed


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
        shutdown_at_exit=True,
    )
    deadline = time.monotonic() + 30
    while not any(n["NodeID"] == node.node_id and n["Alive"] for n in ray.nodes()):
        assert time.monotonic() < deadline, "the extra node did not come up"
        time.sleep(0.1)
    return node


def _remove_my_node(item: str) -> dict:
    """Items of the lost-start test: "slow" takes its node down as it runs (SIGTERM to its
    raylet, the worker's parent: the node leaves the cluster as when the autoscaler
    removes it); the others just return."""
    import os
    import signal
    import time

    if item == "slow":
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(60)
    return {"item": item}


def test_an_item_whose_node_goes_away_before_it_starts_is_recorded_not_waited_for(
    ray_local, tmp_path: Path
):
    """The bug: the driver waited (3600 s per wait, without end) for the start marker of
    an item whose node was removed before it started, so the batch hung."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # The only node with a "doomed" slot: the items run there one at a time, in order (Ray
    # queues tasks of one shape first in, first out, and hands the next one the worker the
    # last one freed): "a", then "slow", which removes the node while "lost" waits.
    node = _add_node(ray_local, num_cpus=1, resources={"doomed": 1})
    store = Store(str(tmp_path / "out"))
    cfg = FanoutConfig(
        workers=2, resources={"doomed": 1}, item_timeout_s=60, start_timeout_s=2, progress=False
    )
    start = time.monotonic()
    try:
        run = fan_out(
            ["a", "slow", "lost"],
            _remove_my_node,
            stage="t",
            item_id=str,
            key=_key,
            store=store,
            config=cfg,
        )
    finally:
        node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
    took = time.monotonic() - start
    assert [(r.item_id, r.reason) for r in run.results] == [
        ("a", None),
        ("slow", WORKER_CRASHED),
        ("lost", ITEM_LOST),
    ], run.results
    assert "no live node has the resources it asks for" in run.results[2].error
    assert run.funnel.as_dict()["dropped"] == {WORKER_CRASHED: 1, ITEM_LOST: 1}
    assert store.exists(_key("a")) and not store.exists(_key("lost"))  # a rerun retries it
    assert took < 20, took  # start_timeout_s (2 s) after the node went, not an hour
