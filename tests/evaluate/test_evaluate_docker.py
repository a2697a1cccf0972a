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
