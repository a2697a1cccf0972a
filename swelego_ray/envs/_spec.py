"""The error of environment building; the specs themselves are schema records."""

from __future__ import annotations

from swelego_ray.schema import Environment, EnvSpec


class EnvBuildError(RuntimeError):
    """An environment could not be built (missing interpreter, failed install, ...)."""


__all__ = ["EnvBuildError", "EnvSpec", "Environment"]
