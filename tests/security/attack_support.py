"""Shared by the attack suite: the sibling test packages' builders on the import path, a
plain one-commit local environment, and a non-blocking check for host listeners."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

# the docker fixtures (tests/sandbox) and the repository builders (tests/evaluate)
for _sibling in ("sandbox", "evaluate"):
    _path = str(Path(__file__).parents[1] / _sibling)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from docker_fixtures import deterministic_repo  # noqa: E402

from swelego_ray.envs import EnvBackend, Environment, EnvSpec, backends  # noqa: E402


def plain_local_env(tmp_path_factory, name: str, **spec: object) -> tuple[EnvBackend, Environment]:
    """A built local environment of a one-file repository (no install steps), on a cache
    root of its own."""
    cache = tmp_path_factory.mktemp(f"{name}-cache")
    repo = tmp_path_factory.mktemp(f"{name}-repos") / "plain"
    (sha,) = deterministic_repo(repo, [{"README.md": "hello\n"}])
    env = Environment(
        repo=f"t/{name}", commit=sha, source=str(repo), spec=EnvSpec(install=[], **spec)
    )
    backend = backends.local_backend(cache_root=cache)
    backend.prepare(env)
    return backend, env


def accepted(server: socket.socket) -> bool:
    """Whether a non-blocking listening socket has a connection waiting (and drop it)."""
    try:
        server.accept()[0].close()
        return True
    except BlockingIOError:
        return False
