"""Kept start states of the docker backend: a prepared sandbox committed as an image.

The image `swelego-state:<digest of (env image id, state key)>` is the prepared
container's filesystem (committed without pausing: a sandbox runs nothing between
commands). Its diff base and `prepare`'s note are in STATE_FILE inside it (image labels
travel in the commit's query string: podman's service dropped one of 0.5 MB); its labels
are the environment image's (`swelego.env_key`, ...), the preparing process's owner
labels and `swelego.role=start-state`. List them with `docker images swelego-state`;
`remove_states` deletes those no container uses.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swelego_ray.sandbox import _docker_engine as engine
from swelego_ray.sandbox._docker_engine import LABEL_KEY
from swelego_ray.sandbox._protocol import SandboxError
from swelego_ray.storage import content_hash, file_lock

if TYPE_CHECKING:
    import docker

logger = logging.getLogger(__name__)

REPOSITORY = "swelego-state"
ROLE = "start-state"
STATE_FILE = "/opt/swelego/start-state.json"  # {"key", "base", "note"}


def state_tag(env_image_id: str, key: str) -> str:
    return f"{REPOSITORY}:{content_hash([env_image_id, key])}"


def image_id(client: docker.DockerClient, tag: str) -> str | None:
    """The id of the image `tag`, or None when there is none."""
    import docker

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def keep(container: Any, tag: str, locks: Path, key: str, base: str, note: str) -> str | None:
    """Write STATE_FILE into `container` and commit it as `tag` (returns the image id)
    unless another process kept that state first (then None: its sandbox is used as it
    is). A lock file in `locks` makes check and commit one step for this host's processes."""
    import docker

    data = json.dumps({"key": key, "base": base, "note": note}).encode()
    info = tarfile.TarInfo(STATE_FILE.rsplit("/", 1)[1])
    info.size, info.mode, info.mtime = len(data), 0o644, time.time()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    repository, _, name = tag.partition(":")
    with file_lock(locks / f"state-{name}.lock"):
        if image_id(container.client, tag) is not None:
            return None
        try:
            if not container.put_archive(STATE_FILE.rsplit("/", 1)[0], buf.getvalue()):
                raise SandboxError("the engine refused the archive")
            image = container.commit(
                repository=repository,
                tag=name,
                pause=False,
                changes=[f"LABEL {engine.ROLE_LABEL}={ROLE}"],
            )
        except (docker.errors.DockerException, SandboxError) as exc:
            logger.warning("could not keep start state %s (%s); it is prepared again", tag, exc)
            return None
    return image.id


def read_state(container: Any, tag: str) -> tuple[str, str]:
    """(diff base, note) from STATE_FILE in a container of the kept state `tag`."""
    import docker

    try:
        stream, _ = container.get_archive(STATE_FILE)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member else None
            state = json.loads(handle.read() if handle else b"")
        return state["base"], state["note"]
    except (docker.errors.DockerException, tarfile.TarError, ValueError, KeyError) as exc:
        raise SandboxError(
            f"image {tag} is not a usable start state ({STATE_FILE}: {exc}); "
            f"remove it (docker rmi {tag}) to prepare it again"
        ) from exc


def remove_states(client: docker.DockerClient, env_key: str | None = None) -> int:
    """Remove kept start states (of one environment, or all) that no container uses;
    returns how many."""
    filters = {"label": [f"{LABEL_KEY}={env_key}"]} if env_key is not None else None
    return engine.remove_unused_images(client, REPOSITORY, filters)
