"""The per-item watchdog thread outlives an item without a deadline."""

from __future__ import annotations

import time

import pytest

from swelego_ray.engine._watchdog import ItemDeadline, Watchdog


def test_an_item_without_a_deadline_leaves_the_watchdog_guarding_the_next():
    watchdog = Watchdog(grace_s=5.0, may_kill=False)
    with watchdog.guard(None, lambda: None):
        time.sleep(0.2)  # the thread waits with no deadline (it once died here: OverflowError)
    started = time.monotonic()
    with pytest.raises(ItemDeadline), watchdog.guard(0.3, lambda: None):
        while time.monotonic() - started < 10:
            pass
    assert time.monotonic() - started < 5
