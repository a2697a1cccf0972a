"""What cache maintenance (swelego_ray.cache) needs from the local sandbox's on-disk state:
kept start states, sandbox workspaces and whether their owners still run."""

from swelego_ray.sandbox._owner import owner_alive
from swelego_ray.sandbox._states import StateStore, disk_bytes, is_held, list_states
from swelego_ray.sandbox._workspaces import remove_tree, sweep_stale

__all__ = [
    "StateStore",
    "disk_bytes",
    "is_held",
    "list_states",
    "owner_alive",
    "remove_tree",
    "sweep_stale",
]
