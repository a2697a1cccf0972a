"""Failed environment builds, recorded so that later runs do not build them again.

A build whose step failed (the repository's install, not the host: a missing uv, the
network, a timeout are not recorded) leaves `CACHE/envs/<key>.failed.json` (local
backend, beside its log `<key>.failed.log`) or `CACHE/docker/failed/<key>.failed.json`
(docker, naming its set-up log). Until the record is removed, the
builder refuses that environment at once with the recorded error and log path. Retrying
is a choice: `swelego evaluate --rebuild-failed`, i.e. the builder's
`retry_failed_builds` option (LocalEnvConfig, ImageConfig), or
`swelego cache failures --forget` (forget_failures) before the next run. A builder that
retries does so once: a failure recorded after the run started (`retry_failed_before`,
which `--rebuild-failed` sets; default: when the builder was made), e.g. for another
instance on the same environment, is refused like any other.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from swelego_ray.envs._spec import EnvBuildError, Environment

logger = logging.getLogger(__name__)

_SUFFIX = ".failed.json"


class EnvStepFailed(EnvBuildError):
    """A build step of the environment itself failed: recorded, not retried by default."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class FailedBuild(BaseModel):
    """The record of one failed build."""

    model_config = ConfigDict(extra="forbid")

    key: str
    repo: str
    commit: str
    backend: str
    error: str
    log: str = ""
    failed_at: float


BACKEND_DIRS = {"local": ("envs",), "docker": ("docker", "failed")}


def _dir(cache_root: Path, backend: str) -> Path:
    return Path(cache_root).joinpath(*BACKEND_DIRS[backend])


def _path(cache_root: Path, backend: str, key: str) -> Path:
    return _dir(cache_root, backend) / f"{key}{_SUFFIX}"


def record_failure(cache_root: Path, env: Environment, backend: str, exc: EnvStepFailed) -> None:
    """Record `exc` as `env`'s failed build (best effort: the error itself is what the
    caller raises)."""
    record = FailedBuild(
        key=env.key,
        repo=env.repo,
        commit=env.commit,
        backend=backend,
        error=str(exc)[-4000:],
        log=exc.log,
        failed_at=time.time(),
    )
    path = _path(cache_root, backend, env.key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(record.model_dump_json(indent=2))
        tmp.replace(path)
    except OSError as err:
        logger.warning("could not record the failed build of %s: %s", env.key, err)


def recorded_failure(cache_root: Path, backend: str, key: str) -> FailedBuild | None:
    """The recorded failed build of environment `key` on `backend`, or None (an
    unreadable record is ignored: the build runs again)."""
    path = _path(cache_root, backend, key)
    if not path.is_file():
        return None
    try:
        return FailedBuild.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def refuse_recorded(
    cache_root: Path, backend: str, env: Environment, *, retry_before: float | None = None
) -> None:
    """EnvBuildError with the recorded failure of `env`'s build, if there is one and it
    was not recorded before `retry_before` (a time.time(): the caller retries failures
    older than that, once; None: retry nothing)."""
    failed = recorded_failure(cache_root, backend, env.key)
    if failed is None or (retry_before is not None and failed.failed_at < retry_before):
        return
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(failed.failed_at))
    how = (
        "retried already in this run"
        if retry_before is not None
        else "not retried (rebuild with `swelego evaluate --rebuild-failed`, i.e. the "
        "builder option retry_failed_builds, or forget the failure: "
        f"`swelego cache failures --forget {env.key}`)"
    )
    raise EnvBuildError(
        f"{env.repo}@{env.commit[:12]}: the environment's build failed on {when} and is "
        f"{how}; log: {failed.log or '-'}\n{failed.error}"
    )


def list_failures(cache_root: Path) -> list[FailedBuild]:
    """Every recorded failed build under `cache_root` (both backends), oldest first."""
    found = []
    for backend in BACKEND_DIRS:
        for path in _dir(cache_root, backend).glob(f"*{_SUFFIX}"):
            record = recorded_failure(cache_root, backend, path.name.removesuffix(_SUFFIX))
            if record is not None:
                found.append(record)
    return sorted(found, key=lambda r: r.failed_at)


def forget_failures(
    cache_root: Path, keys: list[str] | None = None, backends: tuple[str, ...] = ("local", "docker")
) -> list[str]:
    """Remove the records of `keys` (all when None) on `backends`; the keys removed."""
    wanted = None if keys is None else set(keys)
    removed = []
    for backend in backends:
        for path in _dir(cache_root, backend).glob(f"*{_SUFFIX}"):
            key = path.name.removesuffix(_SUFFIX)
            if wanted is None or key in wanted:
                path.unlink(missing_ok=True)
                removed.append(key)
    return sorted(removed)
