"""Work that cannot be scheduled is an error, not a wait.

Before a stage starts, `require_resources` checks that a live node could run one of its
workers, or else that the cluster's autoscaler has a node type that could (Ray publishes
the autoscaler's node groups in the GCS); if neither, it fails at once naming the missing
resource (a local Ray, or a fixed cluster without such nodes). While a stage waits for the
autoscaler, `ResourceWait` reports the wait and gives up after `start_timeout_s`.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class UnschedulableError(RuntimeError):
    """No node offers what the stage's items ask for (the message names the resource)."""


def describe(demand: dict[str, float]) -> str:
    return ", ".join(f"{k}: {v:g}" for k, v in demand.items())


def _fits(have: dict[str, float], demand: dict[str, float]) -> bool:
    return all(have.get(k, 0.0) >= v - 1e-9 for k, v in demand.items())


def node_totals() -> list[dict[str, float]]:
    """Total resources of each live node."""
    import ray

    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


def missing(demand: dict[str, float], totals: list[dict[str, float]]) -> list[str]:
    """The resources of `demand` that no single live node has enough of (all of them
    when no node fits, the ones no node has at all first)."""
    if any(_fits(t, demand) for t in totals):
        return []
    best = {k: max((t.get(k, 0.0) for t in totals), default=0.0) for k in demand}
    short = [k for k, v in demand.items() if best[k] < v - 1e-9]
    return short or list(demand)


def autoscaler_node_types() -> list[dict[str, float]] | None:
    """Resources of each node type the cluster's autoscaler may start (None: no
    autoscaler has published its config)."""
    from ray._private import state

    try:
        config = state.state.get_cluster_config()
    except Exception as exc:  # an older GCS, or none reachable: treat as no autoscaler
        logger.debug("reading the autoscaler's config failed: %s", exc)
        return None
    if config is None:
        return None
    return [dict(g.resources) for g in config.node_group_configs if g.max_count != 0]


def require_resources(demand: dict[str, float], *, what: str) -> None:
    """Fail (UnschedulableError) when no live node could run `demand` and no node type of
    the cluster's autoscaler could; when only the autoscaler could, log that we wait."""
    totals = node_totals()
    short = missing(demand, totals)
    if not short:
        return
    have = ", ".join(sorted({k for t in totals for k in t if not k.startswith("node:")}))
    message = (
        f"{what} asks each worker for {describe(demand)}, and no node of this Ray cluster"
        f" has enough {', '.join(short)} (nodes offer: {have or 'nothing'})"
    )
    types = autoscaler_node_types()
    if types is None:
        raise UnschedulableError(
            f"{message}; no autoscaler can add one. Lower the request (e.g."
            " item_resources={} or cpus_per_item) or join a cluster that has such nodes."
        )
    if not any(_fits(t, demand) for t in types):
        raise UnschedulableError(
            f"{message}, and none of the autoscaler's {len(types)} node types offers it."
        )
    logger.warning("%s; waiting for the autoscaler to add one", message)


class ResourceWait:
    """While a stage runs: once no live node could run its workers for `limit_s` in a row
    (the node they ran on went away, or the autoscaler brings up none), `gave_up` says why
    and the driver stops waiting. Every `report_s` of such waiting is logged."""

    def __init__(
        self,
        demand: dict[str, float],
        limit_s: float | None,
        *,
        poll_s: float = 1.0,
        report_s: float = 60.0,
    ) -> None:
        self.demand, self.limit_s = demand, limit_s
        self.poll_s, self.report_s = poll_s, report_s
        self.gave_up: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resource-wait", daemon=True)

    def __enter__(self) -> ResourceWait:
        if self.limit_s is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _loop(self) -> None:
        waited, reported = 0.0, 0.0
        while not self._stop.wait(self.poll_s):
            try:
                short = missing(self.demand, node_totals())
            except Exception as exc:  # the GCS did not answer: count the wait
                logger.warning("reading the cluster's resources failed: %s", exc)
                short = list(self.demand)
            if not short:
                waited = reported = 0.0
                continue
            waited += self.poll_s
            if waited - reported >= self.report_s:
                reported = waited
                logger.warning(
                    "waited %.0f s for a node with %s (short of %s)",
                    waited,
                    describe(self.demand),
                    ", ".join(short),
                )
            if self.limit_s is not None and waited >= self.limit_s:
                self.gave_up = (
                    f"no live node has what its worker asks for ({describe(self.demand)};"
                    f" short of {', '.join(short)}) for start_timeout_s={self.limit_s:g} s:"
                    " its node went away, or the autoscaler brought up none"
                )
                return


__all__ = ["ResourceWait", "UnschedulableError", "require_resources"]
