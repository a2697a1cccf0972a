"""Starting or joining Ray, on loopback unless told otherwise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


def init_ray(address: str | None = None, *, num_cpus: int | None = None, **kwargs: Any) -> None:
    """Join `address` (or RAY_ADDRESS; "auto" joins the cluster `ray start` runs here) if
    given, else start a new local Ray on 127.0.0.1.

    Ray binds to the machine's non-loopback address by default; a local cluster here
    never should. Idempotent: does nothing if Ray is already initialised.
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **kwargs)
        return
    with loopback_only():
        ray.init(
            address="local",  # a new local Ray, never one another process happens to run here
            num_cpus=num_cpus,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            log_to_driver=kwargs.pop("log_to_driver", True),
            **kwargs,
        )


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """While a local Ray starts: every Ray process takes 127.0.0.1 as its node address and
    binds its servers there. Ray 2.60 swaps a given 127.0.0.1 for the machine's own address
    (`resolve_ip_for_localhost`: its gcs_server, raylet and agents then listened on eth0 or
    on all interfaces) unless multi-node clusters are off, which is what this switches off,
    for this start only (the processes it starts inherit the setting)."""
    from ray._private import ray_constants

    saved_env = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    saved = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = saved_env
