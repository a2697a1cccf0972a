"""The docker engine as the layers above use it: connecting, container ownership, the
image contract a docker sandbox relies on, and maintenance of kept start states."""

from swelego_ray.sandbox._docker_engine import (
    HARNESS_TOOLS,
    HEAD_FILE,
    LABEL_HEAD,
    LABEL_KEY,
    MISSING_TOOLS_SHELL,
    ROLE_LABEL,
    connect,
    missing_tools_message,
    owner_labels,
    remove_unused_images,
    track,
    untrack,
)
from swelego_ray.sandbox._docker_states import REPOSITORY as STATE_REPOSITORY
from swelego_ray.sandbox._docker_states import remove_states

__all__ = [
    "HARNESS_TOOLS",
    "HEAD_FILE",
    "LABEL_HEAD",
    "LABEL_KEY",
    "MISSING_TOOLS_SHELL",
    "ROLE_LABEL",
    "STATE_REPOSITORY",
    "connect",
    "missing_tools_message",
    "owner_labels",
    "remove_states",
    "remove_unused_images",
    "track",
    "untrack",
]
