"""Sandbox backends over environments: a builder of this package composed with a backend
of swelego_ray.sandbox, which knows no builder and starts sandboxes on a `BuiltEnv`.

backend = get_backend("local")          # or "docker", with its config as keywords
backend.prepare(env)                    # build the environment once (cached)
with backend.start(env) as sandbox:
    result = sandbox.exec("pytest -rA tests/test_x.py", timeout_s=60)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field

from swelego_ray.envs._spec import Environment
from swelego_ray.envs.base_image import ensure_base_image
from swelego_ray.envs.builder import EnvBuilder
from swelego_ray.envs.images import ImageBuilder, ImageConfig
from swelego_ray.envs.interpreters import venv_prefixes
from swelego_ray.envs.repos import cached_checkout
from swelego_ray.sandbox import BuiltEnv, Limits, Sandbox, StartState
from swelego_ray.sandbox.docker import DockerBackend, DockerConfig
from swelego_ray.sandbox.local import LocalBackend, LocalConfig
from swelego_ray.storage import default_cache_root


class LocalEnvConfig(LocalConfig):
    """Settings of the "local" backend: the sandboxes' and the environment builds'."""

    build_step_timeout_s: float = 1800.0
    retry_failed_builds: bool = False
    """Build environments whose build failed before this backend was made again, once
    (envs.failures), instead of refusing them with the recorded error."""
    retry_failed_before: float | None = None
    """With retry_failed_builds: retry the failures recorded before this time.time() (a
    run's start, so that its workers retry each environment once) instead."""


class DockerEnvConfig(DockerConfig):
    """Settings of the "docker" backend: the containers' and how images are built."""

    images: ImageConfig = Field(default_factory=ImageConfig)


class _Sandboxes(Protocol):
    """What a backend of swelego_ray.sandbox offers (LocalBackend, DockerBackend)."""

    name: str

    def start(
        self, built: BuiltEnv, limits: Limits | None = None, *, commit: str | None = None
    ) -> Sandbox: ...

    def start_prepared(
        self, built: BuiltEnv, state: StartState, limits: Limits | None = None
    ) -> tuple[Sandbox, str]: ...


class EnvBackend:
    """A SandboxBackend: builds each environment once (cached, `build`), then lets the
    sandbox-layer backend start sandboxes on the built one. `config` is the whole config
    (sandboxes and builds); attributes it does not have (cache_root, client, mode,
    describe, ...) are the sandbox backend's."""

    def __init__(
        self,
        config: LocalEnvConfig | DockerEnvConfig,
        sandboxes: _Sandboxes,
        builder: Any,
        build: Callable[[Environment], BuiltEnv],
    ) -> None:
        self.config, self.sandboxes, self.builder, self._build = config, sandboxes, builder, build
        self.name = sandboxes.name
        self._built: dict[str, BuiltEnv] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("config", "sandboxes", "builder", "_build", "_built"):
            raise AttributeError(name)
        return getattr(self.sandboxes, name)

    def built(self, env: Environment) -> BuiltEnv:
        """`env` built (once per backend; the builder's cache makes later processes fast)."""
        built = self._built.get(env.key)
        if built is None:
            built = self._built[env.key] = self._build(env)
        return built

    def prepare(self, env: Environment) -> None:
        self.built(env)

    def start(
        self, env: Environment, limits: Limits | None = None, *, commit: str | None = None
    ) -> Sandbox:
        return self.sandboxes.start(self.built(env), limits, commit=commit)

    def start_prepared(
        self, env: Environment, state: StartState, limits: Limits | None = None
    ) -> tuple[Sandbox, str]:
        return self.sandboxes.start_prepared(self.built(env), state, limits)


def _checkout(env: Environment, cache_root: Path) -> Callable[[str], Path]:
    return functools.partial(cached_checkout, env.repo, env.source, cache_root=cache_root)


def local_backend(config: LocalEnvConfig | None = None, **overrides: Any) -> EnvBackend:
    """The "local" backend: venv builds (envs.builder) under bubblewrap sandboxes."""
    base = (config or LocalEnvConfig()).model_dump(exclude_unset=True)
    cfg = LocalEnvConfig.model_validate({**base, **overrides})  # rejects unknown keys
    build_fields = {"build_step_timeout_s", "retry_failed_builds", "retry_failed_before"}
    sandboxes = LocalBackend(LocalConfig(**cfg.model_dump(exclude=build_fields)))
    builder = EnvBuilder(
        sandboxes.cache_root,
        step_timeout_s=cfg.build_step_timeout_s,
        retry_failed_builds=cfg.retry_failed_builds,
        retry_failed_before=cfg.retry_failed_before,
    )

    def build(env: Environment) -> BuiltEnv:
        made = builder.ensure(env)
        return BuiltEnv(
            key=env.key,
            commit=env.commit,
            resolved_commit=made.commit,
            head=made.head,
            env_vars=dict(env.spec.env_vars),
            checkout=_checkout(env, sandboxes.cache_root),
            testbed=made.testbed,
            venv=made.venv,
            venv_prefixes=venv_prefixes(made.venv),
        )

    return EnvBackend(cfg, sandboxes, builder, build)


def docker_backend(config: DockerEnvConfig | None = None, **overrides: Any) -> EnvBackend:
    """The "docker" backend: environment images (envs.images) run as containers."""
    # keywords may come as JSON (CLI backend options): validate them, nested dicts too
    base = (config or DockerEnvConfig()).model_dump()
    cfg = DockerEnvConfig.model_validate({**base, **overrides})
    sandboxes = DockerBackend(DockerConfig(**cfg.model_dump(exclude={"images"})))
    builder = ImageBuilder(sandboxes.client, cfg.images, sandboxes.cache_root)

    def build(env: Environment) -> BuiltEnv:
        return BuiltEnv(
            key=env.key,
            commit=env.commit,
            resolved_commit="",
            head="",  # the image records it (HEAD_FILE, LABEL_HEAD)
            env_vars=dict(env.spec.env_vars),
            checkout=_checkout(env, sandboxes.cache_root),
            image=builder.ensure(env),
        )

    return EnvBackend(cfg, sandboxes, builder, build)


BACKENDS: dict[str, Callable[..., EnvBackend]] = {
    "local": local_backend,
    "docker": docker_backend,
}


def get_backend(name: str, config: Any = None, **overrides: Any) -> EnvBackend:
    """A sandbox backend by short name ("local", "docker"): its config (LocalEnvConfig,
    DockerEnvConfig) and/or keywords for it."""
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown sandbox backend {name!r}; valid: {', '.join(sorted(BACKENDS))}")
    return factory(config, **overrides)


def offline_config(base_url: str, cache_root: Path | None = None) -> DockerEnvConfig:
    """A docker config for machines without a registry or PyPI inside builds: the
    debootstrap base image (made present in the engine at `base_url`), host interpreters,
    wheelhouse."""
    import docker

    cache_root = cache_root or default_cache_root()
    client = docker.DockerClient(base_url=base_url, timeout=900)
    try:
        base = ensure_base_image(client, cache_root)
    finally:
        client.close()
    images = ImageConfig(base_image=base, host_interpreters=True, wheelhouse=True)
    return DockerEnvConfig(base_url=base_url, cache_root=cache_root, images=images)
