"""Sandboxes: one protocol, backends chosen by name, and a warm pool.

backend = get_backend("local")          # or "docker", with its config as keywords
backend.prepare(env)                    # build the environment once (cached)
with backend.start(env) as sandbox:
    result = sandbox.exec("pytest -rA tests/test_x.py", timeout_s=60)
# a kept start state: `prepare` runs once per (env, key), later sandboxes start from it
sandbox, note = backend.start_prepared(env, StartState(key, prepare, commit))
"""

from __future__ import annotations

import importlib
from typing import Any

from swelego_ray.sandbox._backend import SandboxBackend, StartState
from swelego_ray.sandbox._protocol import (
    TESTBED,
    VENV,
    ExecResult,
    Limits,
    Sandbox,
    SandboxError,
)

BACKENDS = {
    "local": "swelego_ray.sandbox.local:LocalBackend",
    "docker": "swelego_ray.sandbox.docker:DockerBackend",
}


def get_backend(name: str, **config: Any) -> SandboxBackend:
    """A sandbox backend by short name ("local", "docker"); keywords go to its config."""
    target = BACKENDS.get(name)
    if target is None:
        raise ValueError(f"unknown sandbox backend {name!r}; valid: {', '.join(sorted(BACKENDS))}")
    module_name, _, class_name = target.partition(":")
    backend_cls = getattr(importlib.import_module(module_name), class_name)
    return backend_cls(**config)


__all__ = [
    "BACKENDS",
    "TESTBED",
    "VENV",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "StartState",
    "get_backend",
]
