"""Environments: specs (data), repository checkouts, cached builds (virtualenvs, images),
and the sandbox backends that start sandboxes on them (`get_backend`)."""

from swelego_ray.envs._spec import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs._swebench_specs import swebench_spec
from swelego_ray.envs.backends import (
    BACKENDS,
    DockerEnvConfig,
    EnvBackend,
    LocalEnvConfig,
    get_backend,
)
from swelego_ray.envs.interpreters import find_interpreter
from swelego_ray.envs.repos import (
    RepoSourceError,
    cached_checkout,
    default_cache_root,
    materialize,
    resolve_commit,
    resolve_source,
)
from swelego_ray.envs.specs import default_spec, environment_for, spec_for

__all__ = [
    "BACKENDS",
    "DockerEnvConfig",
    "EnvBackend",
    "EnvBuildError",
    "EnvSpec",
    "Environment",
    "LocalEnvConfig",
    "RepoSourceError",
    "cached_checkout",
    "default_cache_root",
    "default_spec",
    "environment_for",
    "find_interpreter",
    "get_backend",
    "materialize",
    "resolve_commit",
    "resolve_source",
    "spec_for",
    "swebench_spec",
]
