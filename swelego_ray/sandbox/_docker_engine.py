"""Connecting to a Docker-API engine, and owning containers so none outlives its process.

Every sandbox container carries labels naming its owner (host name, pid and process
start time). The owner removes its containers at exit (atexit) and on close; a backend
starting later removes containers whose owner on this host no longer runs (a crash or
SIGKILL), so a killed rollout never leaks containers.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING

from swelego_ray.sandbox._owner import owner_alive, owner_tag
from swelego_ray.sandbox._protocol import SandboxError

if TYPE_CHECKING:
    import docker

logger = logging.getLogger(__name__)

ROLE_LABEL = "swelego.role"
OWNER_LABEL = "swelego.owner"  # <pid>-<start time>
HOST_LABEL = "swelego.host"
ROLE = "sandbox"

_live: dict[str, docker.DockerClient] = {}
_live_lock = threading.Lock()
_atexit_registered = False


def engine_url(base_url: str | None) -> str:
    return base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(base_url: str | None, timeout_s: float) -> docker.DockerClient:
    """A client for the engine at `base_url` (else DOCKER_HOST), checked with a ping."""
    import docker

    url = engine_url(base_url)
    try:
        client = docker.DockerClient(base_url=url, timeout=int(timeout_s))
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxError(
            f"no Docker-API engine reachable at {url}: {exc}. Start one and point "
            "DOCKER_HOST (or DockerConfig.base_url) at it, e.g. Docker (`systemctl start "
            "docker`) or podman: `podman system service --time=0 unix:///run/podman/podman.sock"
            " &` then DOCKER_HOST=unix:///run/podman/podman.sock (on hosts like Debian 12 see "
            "swelego_ray.sandbox.podman_service for the runc/ulimit settings it needs)"
        ) from exc
    return client


def owner_labels() -> dict[str, str]:
    return {ROLE_LABEL: ROLE, OWNER_LABEL: owner_tag(), HOST_LABEL: socket.gethostname()}


def sweep_stale(client: docker.DockerClient) -> int:
    """Remove sandbox containers whose owning process on this host is gone."""
    import docker

    host = socket.gethostname()
    removed = 0
    for container in client.containers.list(all=True, filters={"label": f"{ROLE_LABEL}={ROLE}"}):
        labels = container.labels
        if labels.get(HOST_LABEL) != host or owner_alive(labels.get(OWNER_LABEL, "")):
            continue
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True, v=True)
            removed += 1
    if removed:
        logger.info("removed %d sandbox containers left by dead processes", removed)
    return removed


def remove_unused_images(
    client: docker.DockerClient, repository: str, filters: dict | None = None
) -> int:
    """Remove the images of `repository` (matching `filters`) that no container uses and
    no other image builds on; returns how many."""
    import docker

    removed = 0
    for image in client.images.list(name=repository, filters=filters):
        try:  # not forced: podman would remove the running sandboxes of it too
            for name in image.tags or [image.id]:
                client.images.remove(name)
            removed += 1
        except docker.errors.DockerException as exc:
            logger.warning("could not remove image %s: %s", image.tags or image.id, exc)
    return removed


def track(container_id: str, client: docker.DockerClient) -> None:
    """Remove this container at interpreter exit unless it was closed before."""
    global _atexit_registered
    with _live_lock:
        _live[container_id] = client
        if not _atexit_registered:
            atexit.register(_remove_all)
            _atexit_registered = True


def untrack(container_id: str) -> None:
    with _live_lock:
        _live.pop(container_id, None)


def _remove_all() -> None:
    with _live_lock:
        items = list(_live.items())
        _live.clear()
    for container_id, client in items:
        with contextlib.suppress(Exception):
            client.api.remove_container(container_id, force=True, v=True)
