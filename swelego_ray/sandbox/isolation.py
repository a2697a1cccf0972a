"""The local sandbox's isolation, for layers above that run untrusted code the same way
without a sandbox session (environment builds and wheel downloads in swelego_ray.envs):
bubblewrap argv from an allow-listed root, limited execution, and the marker the
package-index network prints when its set-up fails."""

from swelego_ray.sandbox._bwrap import (
    SANDBOX_PATH,
    Mount,
    SandboxToolMissing,
    bwrap_argv,
    prefix_mounts,
)
from swelego_ray.sandbox._exec import run_limited
from swelego_ray.sandbox._netns import MARKER as NETWORK_FAILED

__all__ = [
    "NETWORK_FAILED",
    "SANDBOX_PATH",
    "Mount",
    "SandboxToolMissing",
    "bwrap_argv",
    "prefix_mounts",
    "run_limited",
]
