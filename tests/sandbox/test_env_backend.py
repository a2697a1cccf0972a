"""envs.get_backend composes an environment builder with a sandbox-layer backend, which
starts sandboxes on a BuiltEnv and knows no builder."""

from __future__ import annotations

import dataclasses

import pytest

from swelego_ray.envs import LocalEnvConfig, backends, get_backend
from swelego_ray.envs.builder import EnvBuilder
from swelego_ray.sandbox import SandboxError
from swelego_ray.sandbox.local import LocalBackend, LocalConfig


def test_the_config_is_split_between_builder_and_sandboxes(sandbox_cache):
    backend = get_backend(
        "local", cache_root=sandbox_cache, workspace="copy", build_step_timeout_s=7.0
    )
    assert isinstance(backend.config, LocalEnvConfig)
    assert backend.config.build_step_timeout_s == 7.0
    assert isinstance(backend.builder, EnvBuilder) and backend.builder.step_timeout_s == 7.0
    assert isinstance(backend.sandboxes, LocalBackend)
    assert isinstance(backend.sandboxes.config, LocalConfig)
    assert "build_step_timeout_s" not in LocalConfig.model_fields
    assert backend.mode == "copy" and backend.cache_root == sandbox_cache  # the sandboxes'


def test_a_built_environment_carries_what_the_local_sandbox_needs(local_backend, plain_env):
    built = local_backend.built(plain_env)
    assert built is local_backend.built(plain_env)  # built once per backend
    assert built.key == plain_env.key and built.env_vars == plain_env.spec.env_vars
    assert built.testbed.is_dir() and (built.venv / "pyvenv.cfg").is_file()
    assert built.venv_prefixes and all(p.is_dir() for p in built.venv_prefixes)
    assert built.is_built_commit(plain_env.commit) and built.is_built_commit(built.head)
    assert built.image is None


def test_the_sandbox_layer_starts_on_a_built_environment(local_backend, plain_env):
    built = local_backend.built(plain_env)
    with local_backend.sandboxes.start(built) as sandbox:
        assert sandbox.exec("git rev-parse HEAD").output.strip() == built.head


def test_an_environment_built_for_another_backend_is_refused(local_backend, plain_env):
    image_only = dataclasses.replace(
        local_backend.built(plain_env), testbed=None, venv=None, image="swelego-env:x"
    )
    with pytest.raises(SandboxError, match=f"{plain_env.key}.*not built for the local"):
        local_backend.sandboxes.start(image_only)


def test_unknown_backend_names_the_valid_ones():
    with pytest.raises(ValueError, match="'kubernetes'; valid: docker, local"):
        get_backend("kubernetes")
    assert set(backends.BACKENDS) == {"local", "docker"}
