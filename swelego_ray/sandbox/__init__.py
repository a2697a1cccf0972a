"""Sandboxes: one protocol, backends that start sandboxes on built environments, a warm pool.

The sandbox layer knows no environment builder. Users get a backend that builds too from
swelego_ray.envs:

backend = get_backend("local")          # swelego_ray.envs.get_backend; or "docker"
backend.prepare(env)                    # build the environment once (cached)
with backend.start(env) as sandbox:
    result = sandbox.exec("pytest -rA tests/test_x.py", timeout_s=60)
    with sandbox.session() as shell:    # one persistent bash: cwd, env, jobs survive
        shell.run("cd src && export X=1")
# a kept start state: `prepare` runs once per (env, key), later sandboxes start from it
sandbox, note = backend.start_prepared(env, StartState(key, prepare, commit))

Below that, `sandbox.local.LocalBackend` and `sandbox.docker.DockerBackend` start
sandboxes on a `BuiltEnv` (what the builder made: a testbed and venv, or an image).
"""

from __future__ import annotations

from swelego_ray.sandbox._backend import BuiltEnv, SandboxBackend, StartState
from swelego_ray.sandbox._git import SAFE_GIT, safe_git_script
from swelego_ray.sandbox._protocol import (
    TESTBED,
    VENV,
    ExecResult,
    Limits,
    Sandbox,
    SandboxError,
)
from swelego_ray.sandbox._session import SessionBusy, SessionResult, ShellSession, bash_quote

__all__ = [
    "SAFE_GIT",
    "TESTBED",
    "VENV",
    "BuiltEnv",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SessionBusy",
    "SessionResult",
    "ShellSession",
    "StartState",
    "bash_quote",
    "safe_git_script",
]
