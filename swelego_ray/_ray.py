"""Starting or joining Ray, on loopback unless told otherwise."""

from __future__ import annotations

import os
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
    ray.init(
        address="local",  # a new local Ray, never one another process happens to run here
        num_cpus=num_cpus,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=kwargs.pop("log_to_driver", True),
        **kwargs,
    )
