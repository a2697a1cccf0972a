"""Image set-up steps as containers, committed: the repository's code never runs in a build.

podman 4.3.1's build API (compat and libpod endpoints alike) runs every RUN step in the
HOST's network namespace whatever `networkmode` says (measured: the host's interfaces and
PyPI reachable with `networkmode=none`; the podman CLI honours `--network none`). A RUN
step of an environment image runs the repository's set-up, so it could reach every
service on the host's loopback. Containers do honour `network_mode="none"` (only `lo`),
so set-up steps run as a container of the previous image, with the files put in by the
archive API, and the stopped container is committed as the next image.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from swelego_ray.envs._spec import EnvBuildError
from swelego_ray.envs.failures import EnvStepFailed
from swelego_ray.envs.system_libs import missing_system_hint
from swelego_ray.sandbox import engine

if TYPE_CHECKING:
    import docker

# Committed images keep the containers' labels: these replace the sandbox owner labels.
_IMAGE_ROLE = "image"
_PUT_ATTEMPTS = 3


def run_and_commit(
    client: docker.DockerClient,
    image: str,
    tag: str,
    command: list[str],
    *,
    files: Mapping[str, bytes | Path],
    network: bool,
    environment: Mapping[str, str],
    changes: list[str],
    timeout_s: float,
    log: Path,
) -> None:
    """Run `command` in a container of `image` holding `files` (absolute in-container path
    -> bytes, or a host file or directory copied there), with no network unless `network`
    (then the engine's default: a network namespace of its own, never the host's); commit
    it as `tag` when it exits 0. Otherwise EnvBuildError with the output's tail (all of it
    in `log`)."""
    import docker

    options = {"network_mode": None if network else "none", "environment": dict(environment)}
    try:
        container = client.containers.create(
            image, command, labels=engine.owner_labels(), **options
        )
    except docker.errors.DockerException as exc:
        raise EnvBuildError(f"cannot create a set-up container of {image}: {exc}") from exc
    engine.track(container.id, client)
    try:
        _put_files(container, files)
        code, output = _run(container, timeout_s)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
        if code is None:  # may pass on a less loaded machine: not recorded as failed
            raise EnvBuildError(f"set-up step failed (timed out); log: {log}\n{output[-3000:]}")
        if code != 0:
            hint = missing_system_hint(output)
            raise EnvStepFailed(
                f"set-up step failed (exit {code}); log: {log}\n{hint}{output[-3000:]}",
                log=str(log),
            )
        repository, _, name = tag.partition(":")
        container.commit(
            repository=repository,
            tag=name,
            pause=False,
            changes=[*changes, f"LABEL {engine.ROLE_LABEL}={_IMAGE_ROLE}"],
        )
    except docker.errors.DockerException as exc:
        raise EnvBuildError(f"set-up step for {tag} failed in the engine: {exc}") from exc
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True, v=True)
        engine.untrack(container.id)


def _run(container: docker.models.containers.Container, timeout_s: float) -> tuple[int | None, str]:
    """(exit code, or None when it ran past `timeout_s` and was killed; its output)."""
    import docker
    import requests

    container.start()
    try:
        code: int | None = int(container.wait(timeout=timeout_s)["StatusCode"])
    except (requests.exceptions.RequestException, docker.errors.DockerException):
        with contextlib.suppress(docker.errors.DockerException):
            container.kill()
        code = None
    output = container.logs(stdout=True, stderr=True).decode(errors="replace")
    return code, output


def _put_files(
    container: docker.models.containers.Container, files: Mapping[str, bytes | Path]
) -> None:
    """One archive of `files`, extracted at / (parent directories included)."""
    import docker

    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            parents: set[str] = set()
            for target in files:
                parts = target.strip("/").split("/")[:-1]
                parents |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
            for parent in sorted(parents):
                info = tarfile.TarInfo(parent)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for target, source in files.items():
                name = target.strip("/")
                if isinstance(source, Path):
                    tar.add(source, arcname=name)
                else:
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(source), 0o644
                    tar.addfile(info, io.BytesIO(source))
        for attempt in range(_PUT_ATTEMPTS):
            archive.seek(0)
            try:
                if container.put_archive("/", archive):
                    return
            except docker.errors.APIError:  # podman: "write |1: broken pipe", now and then
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
        raise EnvBuildError("the engine refused the set-up files")
