"""Acceptance: a batch with tests that hang, reach for the network, hog memory and write
outside the workspace still finishes, and the report names each case's reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from repo_builders import evil_tasks, make_calc_repo

from swelego_ray.envs import Environment, EnvSpec
from swelego_ray.evaluate import EvaluateConfig, run_evaluation
from swelego_ray.sandbox import Limits
from swelego_ray.schema import write_tasks
from swelego_ray.storage import Store


def _only_loopback(local_backend, repo: Path, base: str) -> None:
    """Checked before any test may try the network: a sandbox sees no interface but lo."""
    env = Environment(
        repo="acme/calc", commit=base, source=str(repo), spec=EnvSpec(packages=[], install=[])
    )
    with local_backend.start(env) as sandbox:
        devices = sandbox.exec("tail -n +3 /proc/net/dev | cut -d: -f1").output.split()
    assert devices == ["lo"], f"sandbox has network interfaces {devices}: refusing to go on"


@pytest.mark.slow
def test_hostile_tests_are_contained_and_reported(
    ray_local, local_backend, sandbox_cache, tmp_path: Path
):
    repos = tmp_path / "repos"
    repo, base = make_calc_repo(repos)
    _only_loopback(local_backend, repo, base)
    tasks_file = write_tasks(evil_tasks(repo, base), tmp_path / "tasks.jsonl")
    cfg = EvaluateConfig(
        tasks=str(tasks_file),
        predictions="gold",
        repos_dir=str(repos),
        out=str(tmp_path / "out"),
        backend={"kind": "local", "cache_root": str(sandbox_cache)},
        cache_root=str(sandbox_cache),
        workers=2,
        timeout_s=90,
        progress=False,
        limits=Limits(timeout_s=8, memory_mb=1024),
    )
    start = time.monotonic()
    report = run_evaluation(cfg)
    elapsed = time.monotonic() - start
    assert report.total_instances == report.submitted_instances == 5
    assert report.resolved_ids == ["acme__calc-normal"], report.details
    reasons = report.reasons
    by_id = {r.instance_id: r for r in report.results}
    assert reasons["acme__calc-hang"] == "timeout"
    memory = next(r for r in report.results if r.instance_id == "acme__calc-memory")
    assert reasons["acme__calc-memory"] == "oom", memory.report.model_dump_json(indent=1)
    for iid in ("acme__calc-network", "acme__calc-write"):
        got = by_id[iid].report
        assert reasons[iid] == "tests_failed", got.model_dump_json(indent=1)
    network = {"acme__calc-network": ["tests/test_network.py::test_network"]}
    assert report.network_failures == network  # annotated, the verdict unchanged
    assert sorted(report.error_ids) == ["acme__calc-hang", "acme__calc-memory"]
    assert elapsed < 240, f"batch took {elapsed:.0f} s"

    store = Store(str(tmp_path / "out"))

    def output(iid: str) -> str:
        keys = [k for k in store.list(f"evaluate/{iid}") if k.endswith("test_output.txt")]
        return store.read_bytes(keys[0]).decode()

    net = output("acme__calc-network")
    assert "Network is unreachable" in net
    took = float(net.split("connect took ")[1].split(" s")[0])
    assert took < 1.0, f"connect took {took} s: it must fail at once, not time out"
    assert "Read-only file system" in output("acme__calc-write")
    for path in ("/usr/swelego_escape", "/etc/swelego_escape"):
        assert not Path(path).exists()
    assert by_id["acme__calc-hang"].duration_s < 40
    saved = json.loads((tmp_path / "out/report.json").read_text())
    assert saved["reasons"] == reasons
