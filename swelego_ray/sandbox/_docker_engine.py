"""Connecting to a Docker-API engine, owning containers so none outlives its process, and
the sandboxes' seccomp profile (the engine's default with fallocate denied).

Every sandbox container carries labels naming its owner (host name, pid and process
start time). The owner removes its containers at exit (atexit) and on close; a backend
starting later removes containers whose owner on this host no longer runs (a crash or
SIGKILL), so a killed rollout never leaks containers.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swelego_ray.sandbox._owner import owner_alive, owner_tag
from swelego_ray.sandbox._protocol import SandboxError
from swelego_ray.sandbox._seccomp import engine_profile

if TYPE_CHECKING:
    import docker

logger = logging.getLogger(__name__)

ROLE_LABEL = "swelego.role"
OWNER_LABEL = "swelego.owner"  # <pid>-<start time>
HOST_LABEL = "swelego.host"
ROLE = "sandbox"

# The image contract: what an image a docker sandbox runs has (swelego_ray.envs.images
# builds such images).
LABEL_KEY = "swelego.env_key"  # the environment key an image (or kept state) belongs to
LABEL_HEAD = "swelego.head"  # the commit TESTBED was checked out at
HEAD_FILE = "/opt/swelego/head"  # the commit after set-up: diffs are taken against it
# What the harness runs in every sandbox (the exec wrapper, patching, diffs, archives).
HARNESS_TOOLS = ("git", "patch", "bash", "tar", "timeout")
# Prints the HARNESS_TOOLS that are missing, one a line (POSIX sh).
MISSING_TOOLS_SHELL = (
    f'for t in {" ".join(HARNESS_TOOLS)}; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done'
)

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


def is_podman(client: docker.DockerClient) -> bool:
    components = client.version().get("Components") or []
    return any("podman" in str(c.get("Name", "")).lower() for c in components)


def seccomp_security_opt(
    client: docker.DockerClient, base_url: str | None, base: Path | None, cache_dir: Path
) -> list[str]:
    """`security_opt` for sandbox containers: the engine's default seccomp profile (or
    `base`) with fallocate, the preallocating ioctls and io_uring denied
    (sandbox._seccomp.engine_profile); every other rule of it is kept. A `seccomp=` option
    replaces the engine's default, so the default itself is the starting point: podman
    reports its file (`/libpod/info`); a Docker engine's built-in profile cannot be read
    through its API, so for Docker `base` is required. podman's compat API reads the value
    as a path on its own host (4.3.1: inline JSON fails, "opening seccomp profile failed"),
    Docker takes the JSON itself. Where the default cannot be had (Docker without `base`,
    a remote podman), the engine's default is kept as it is, with a warning."""
    podman = is_podman(client)
    url = engine_url(base_url)
    if podman and base is None and not url.startswith("unix://"):
        return _engine_default(
            f"podman at {url} reads seccomp profiles from its own host's files, which this "
            "process cannot write to (use podman's unix socket on this host)"
        )
    if base is None and podman:
        base = _podman_profile_path(client, url)
    if base is None:
        return _engine_default(
            f"the Docker engine at {url} keeps its default seccomp profile built in (set "
            "DockerConfig.seccomp_profile to profiles/seccomp/default.json of the daemon's "
            "version to deny fallocate on top of it)"
        )
    profile = json.dumps(engine_profile(_read_profile(base)), sort_keys=True)
    if not podman:
        return [f"seccomp={profile}"]
    return [f"seccomp={_write_profile(profile, cache_dir)}"]


def _engine_default(why: str) -> list[str]:
    """Keep the engine's own seccomp profile (fallocate allowed: the disk limit is then
    enforced by the watchdog alone, which a burst of fallocate calls can overshoot)."""
    logger.warning(
        "docker sandboxes keep the engine's default seccomp profile, fallocate not denied: %s",
        why,
    )
    return []


def _podman_profile_path(client: docker.DockerClient, url: str) -> Path:
    api = client.api
    try:
        security = api._result(api._get(api._url("/libpod/info")), True)["host"]["security"]
    except Exception as exc:
        raise SandboxError(f"cannot ask podman at {url} for its seccomp profile: {exc}") from exc
    path = security.get("seccompProfilePath") or ""
    if not security.get("seccompEnabled") or not path:
        raise SandboxError(
            f"podman at {url} has no seccomp profile file (seccompEnabled="
            f"{security.get('seccompEnabled')}, seccompProfilePath={path!r}); sandboxes need "
            "one with fallocate denied: set DockerConfig.seccomp_profile to a profile JSON"
        )
    return Path(path)


def _read_profile(path: Path) -> dict[str, Any]:
    try:
        profile = json.loads(Path(path).read_text())
        engine_profile(profile)  # validates
    except (OSError, ValueError, AttributeError) as exc:
        raise SandboxError(f"seccomp profile {path}: cannot be used: {exc}") from exc
    return profile


def _write_profile(profile: str, cache_dir: Path) -> Path:
    """The profile as a file named by its hash (written once, atomically)."""
    digest = hashlib.sha256(profile.encode()).hexdigest()[:16]
    path = cache_dir / f"seccomp-{digest}.json"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".seccomp-", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(profile)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


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


def missing_tools_message(missing: list[str], image: str) -> str:
    """The error for an image without some HARNESS_TOOLS, naming them."""
    return (
        f"image {image} lacks {', '.join(missing)}, which the harness runs in every sandbox "
        f"(it needs {', '.join(HARNESS_TOOLS)}); rebuild it from a base that has them "
        "(swelego_ray.envs.base_image adds them; python:<v>-slim gets them by apt)"
    )
