"""How the engine runs a stage's items: concurrency, deadlines, resources, Ray."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EngineConfig(BaseModel):
    """How to run a batch of items (the engine part of every stage's config)."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1)
    """Most items in flight at once: the actor pool's largest size."""
    item_timeout_s: float | None = Field(None, gt=0)
    """Deadline per item, counted from when it starts running (waiting for a worker or a
    node does not count). The item is stopped and recorded as `item_timeout`; its worker
    survives, or is replaced when the item does not stop within `kill_grace_s`."""
    kill_grace_s: float = Field(10.0, gt=0)
    """How long a timed-out item has to unwind before its worker process is killed."""
    start_timeout_s: float | None = Field(900.0, gt=0)
    """Longest the stage may wait with no node able to run an item (the autoscaler is
    still bringing one up: keep this above the node start-up time); past it the stage
    fails naming the resource. On a local Ray that cannot ever offer it, it fails at once."""
    cpus_per_item: float = Field(1.0, gt=0)
    """Ray logical CPUs each worker reserves (lower it for items that mostly wait)."""
    resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources each worker reserves, e.g. {"sandbox": 1} so that items land on
    (and autoscale) the cluster's sandbox nodes (cluster/node_types.yaml)."""
    items_per_batch: int | None = Field(None, ge=1)
    """Items a worker takes per call (a crash retries the whole batch). None: 1, or up to 8
    for stages long enough that every worker gets 16 batches or more. A batch starts no
    further item once it has run 2 s: the rest run one per batch in a next pass, so a slow
    item never holds its batch mates back for long, and long items end up one per batch."""
    in_process: bool = False
    """Run items one by one in this process (debugging; no worker to kill at a deadline:
    an item past it is interrupted, and the sandbox's own deadlines still apply)."""
    ray_address: str | None = None
    """Ray cluster to join; None starts (or reuses) a local Ray on loopback."""
    progress: bool = True
    """Show a progress bar on stderr."""

    @property
    def demand(self) -> dict[str, float]:
        """What one worker asks of a node."""
        return {"CPU": self.cpus_per_item, **self.resources}


__all__ = ["EngineConfig"]
