"""The same evaluation on the docker backend (podman's Docker API): gold resolves, and the
hostile network / write tests are contained there too."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_builders import calc_tasks, evil_tasks, make_calc_repo

from swelego_ray.evaluate import EvaluateConfig, run_evaluation
from swelego_ray.sandbox import Limits
from swelego_ray.schema import write_tasks


@pytest.mark.docker
@pytest.mark.slow
def test_docker_backend_evaluation(docker_engine, tmp_path: Path):
    repos = tmp_path / "repos"
    repo, base = make_calc_repo(repos)
    evil = {t.instance_id: t for t in evil_tasks(repo, base)}
    tasks = [*calc_tasks(repo, base), evil["acme__calc-network"], evil["acme__calc-write"]]
    tasks_file = write_tasks(tasks, tmp_path / "tasks.jsonl")
    report = run_evaluation(
        EvaluateConfig(
            tasks=str(tasks_file),
            predictions="gold",
            repos_dir=str(repos),
            out=str(tmp_path / "out"),
            # read-only root: writes outside TESTBED must fail, as on the local backend
            # (the docker default gives each container its own writable, discarded layer)
            backend={
                "kind": "docker",
                **docker_engine.model_dump(mode="json"),
                "read_only": True,
            },
            in_process=True,
            workers=1,
            progress=False,
            timeout_s=600,
            limits=Limits(timeout_s=60, memory_mb=1024),
        )
    )
    assert report.resolved_ids == ["acme__calc-1", "acme__calc-2"], report.details
    assert report.reasons == {
        "acme__calc-network": "tests_failed",
        "acme__calc-write": "tests_failed",
    }, report.details


@pytest.mark.docker
@pytest.mark.slow
def test_cli_docker_without_a_registry(docker_engine, tmp_path: Path):
    """`swelego evaluate --backend docker --offline-base` as a user runs it on a machine
    with no registry: the base image, host interpreters and wheelhouse come from the CLI."""
    from typer.testing import CliRunner

    from swelego_ray.cli.main import app

    repos = tmp_path / "repos"
    repo, base = make_calc_repo(repos)
    tasks_file = write_tasks(calc_tasks(repo, base), tmp_path / "tasks.jsonl")
    out = tmp_path / "out"
    argv = [
        "evaluate",
        "--tasks",
        str(tasks_file),
        "--repos",
        str(repos),
        "--out",
        str(out),
        "--instance-ids",
        "acme__calc-1",
        "--backend",
        "docker",
        "--backend-option",
        f"base_url={docker_engine.base_url}",
        "--offline-base",
        "--in-process",
        "--no-progress",
        "--timeout",
        "900",
        "--test-timeout",
        "120",
    ]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "resolved 1/1" in result.output
    assert (out / "logs/run_evaluation/out/gold/acme__calc-1/report.json").is_file()
