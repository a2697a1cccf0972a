"""Failed environment builds are recorded with their log and refused on later runs with
that error (not built again every run); retried on request (builder option, or
`swelego cache failures --forget`); a later success clears the record."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swelego_ray.cli.main import app
from swelego_ray.envs import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs.builder import EnvBuilder
from swelego_ray.envs.failures import (
    EnvStepFailed,
    FailedBuild,
    list_failures,
    record_failure,
    recorded_failure,
)
from swelego_ray.envs.images import ImageBuilder, ImageConfig

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def environment(tmp_path, install: str) -> Environment:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "mod.py").write_text("x = 1\n")
    spec = EnvSpec(python=PYTHON, packages=[], install=[install])
    return Environment(repo="o/r", commit="HEAD", source=str(source), spec=spec)


def test_a_failed_build_is_recorded_refused_then_retried_on_request(tmp_path):
    env = environment(tmp_path, "echo 'cannot build this' >&2; exit 3")
    builder = EnvBuilder(tmp_path / "cache")
    with pytest.raises(EnvStepFailed, match="step install\\[0\\] failed \\(exit 3\\)"):
        builder.ensure(env)
    record = recorded_failure(tmp_path / "cache", "local", env.key)
    assert isinstance(record, FailedBuild) and record.repo == "o/r"
    assert "cannot build this" in record.error
    assert record.log.endswith(f"{env.key}.failed.log")
    assert "cannot build this" in Path(record.log).read_text()

    started = time.monotonic()
    with pytest.raises(EnvBuildError) as again:
        builder.ensure(env)  # refused from the record: no build ran
    assert time.monotonic() - started < 1.0
    message = str(again.value)
    assert "failed on" in message and "not retried" in message and record.log in message
    assert "cannot build this" in message and "swelego cache failures --forget" in message
    assert not isinstance(again.value, EnvStepFailed)

    first = record.failed_at
    retry = EnvBuilder(tmp_path / "cache", retry_failed_builds=True)
    with pytest.raises(EnvStepFailed):
        retry.ensure(env)  # built again, failed again, recorded again
    assert recorded_failure(tmp_path / "cache", "local", env.key).failed_at > first


def test_success_clears_a_record_and_the_cli_lists_and_forgets(tmp_path):
    cache = tmp_path / "cache"
    good = environment(tmp_path, "true")
    record_failure(cache, good, "local", EnvStepFailed("old failure", log="/x.log"))
    bad = environment(tmp_path, "exit 1")
    record_failure(cache, bad, "docker", EnvStepFailed("image failure", log="/y.log"))
    runner = CliRunner()
    listed = runner.invoke(app, ["cache", "failures", "--cache-root", str(cache)])
    assert listed.exit_code == 0, listed.output
    assert good.key in listed.output and "[docker]" in listed.output and "/y.log" in listed.output

    with pytest.raises(EnvBuildError, match="old failure"):
        EnvBuilder(cache).ensure(good)
    built = EnvBuilder(cache, retry_failed_builds=True).ensure(good)
    assert built.testbed.is_dir()
    assert recorded_failure(cache, "local", good.key) is None  # success forgets

    failures = ["cache", "failures", "--cache-root", str(cache)]
    forgot = runner.invoke(app, [*failures, "--forget", bad.key])
    assert forgot.exit_code == 0 and f"forgot {bad.key}" in forgot.output
    assert list_failures(cache) == []
    missing = runner.invoke(app, [*failures, "--forget", "nope"])
    assert missing.exit_code == 2 and "no recorded failed build for: nope" in missing.output


def test_docker_image_builds_record_and_refuse_the_same_way(tmp_path, monkeypatch):
    """ImageBuilder.ensure's bookkeeping; the set-up container itself is replaced (its
    failing run is what tests/evaluate/test_evaluate_docker covers on a real engine)."""
    env = environment(tmp_path, "exit 1")
    calls = []

    def failing_setup(self, env, tag):
        calls.append(tag)
        raise EnvStepFailed("set-up step failed (exit 1); log: /l.failed.log", log="/l.failed.log")

    monkeypatch.setattr(ImageBuilder, "_build_env", failing_setup)
    monkeypatch.setattr(ImageBuilder, "image_exists", lambda self, tag: False)
    monkeypatch.setattr(ImageBuilder, "tag_for", lambda self, env: "swelego-env:test")
    builder = ImageBuilder(None, ImageConfig(), tmp_path / "cache")
    with pytest.raises(EnvStepFailed):
        builder.ensure(env)
    with pytest.raises(EnvBuildError, match="not retried"):
        builder.ensure(env)
    assert len(calls) == 1
    assert recorded_failure(tmp_path / "cache", "local", env.key) is None  # per backend
    retry = ImageBuilder(None, ImageConfig(retry_failed_builds=True), tmp_path / "cache")
    with pytest.raises(EnvStepFailed):
        retry.ensure(env)
    assert len(calls) == 2
    with pytest.raises(EnvBuildError, match="retried already in this run"):
        retry.ensure(env)  # once per builder: its own failure is not retried again
    assert len(calls) == 2
