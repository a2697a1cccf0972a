"""The backend contracts.

`SandboxBackend` is what users call: build (cache) an environment once, start many
sandboxes on it. The sandbox layer knows no environment builder: its backends
(`sandbox.local.LocalBackend`, `sandbox.docker.DockerBackend`) start sandboxes on a
`BuiltEnv` the layer above made; swelego_ray.envs.get_backend composes a builder with one
of them into a `SandboxBackend`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from swelego_ray.sandbox._protocol import Limits, Sandbox
from swelego_ray.schema import Environment


@dataclass(frozen=True)
class BuiltEnv:
    """A built environment as a backend starts sandboxes on it (made by swelego_ray.envs).

    Local backend: `testbed` (the checkout after install), `venv` and `venv_prefixes` (where
    the venv's interpreter lives on the host). Docker backend: `image` (a tag)."""

    key: str  # names the environment (labels, logs, start-state ids)
    commit: str  # the environment commit as asked for
    resolved_commit: str  # that commit as a full sha ("" when unknown)
    head: str  # HEAD of the built testbed (the commit, or a set-up commit on top of it)
    env_vars: dict[str, str]
    checkout: Callable[[str], Path]  # a clean checkout of another commit of the repository
    testbed: Path | None = None
    venv: Path | None = None
    venv_prefixes: tuple[Path, ...] = field(default=())
    image: str | None = None

    def is_built_commit(self, commit: str) -> bool:
        """Whether `commit` names the commit the testbed was built from."""
        return commit in (self.commit, self.head) or bool(
            self.resolved_commit and self.resolved_commit.startswith(commit)
        )


@dataclass(frozen=True)
class StartState:
    """A reproducible workspace state many sandboxes start from (a task's start state).

    `prepare` puts a fresh sandbox (on `commit`, as `start` would) into the state and
    returns a note kept with it (e.g. HEAD and the log of what it did). Backends cache the
    prepared workspace under (environment, `key`) and start later sandboxes from it, so
    `key` must hash every input `prepare` depends on besides the environment, and `prepare`
    must only run trusted code (its result is reused as-is)."""

    key: str
    prepare: Callable[[Sandbox], str]
    commit: str | None = None


class SandboxBackend(Protocol):
    name: str

    def prepare(self, env: Environment) -> None:
        """Build the environment if it is not cached yet (idempotent, safe across processes).

        Raises EnvBuildError with the failing step and its output tail."""
        ...

    def start(
        self, env: Environment, limits: Limits | None = None, *, commit: str | None = None
    ) -> Sandbox:
        """A fresh sandbox with the repository checked out at env.commit in TESTBED.

        With `commit` (another commit of the same repository, e.g. a task's base commit when
        env.commit is its environment_setup_commit) TESTBED holds a clean checkout of that
        commit instead, on the same environment (venv / image)."""
        ...

    def start_prepared(
        self, env: Environment, state: StartState, limits: Limits | None = None
    ) -> tuple[Sandbox, str]:
        """A fresh sandbox already in `state`, and the note `state.prepare` returned.

        The first call per (environment, state.key) prepares a sandbox and keeps its
        workspace; later calls start from the kept copy (copy-on-write) without running
        `prepare`. If `prepare` raises, nothing is kept and the exception propagates."""
        ...
