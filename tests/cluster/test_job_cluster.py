"""Ray jobs on a real multi-node cluster (head + worker via `ray start`, loopback only,
inside a private network namespace) with an S3 server: the job API round trip, and the
evaluate job's acceptance run (kill a node mid-job, resubmit)."""

from __future__ import annotations

import pytest
from nsutil import HERE, netns_available, run_in_netns

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not netns_available(), reason="needs unshare --net --pid (user namespaces)"),
]


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, sandbox_cache):
    """Build the sample repositories and their environments here (PyPI is reachable
    here, not in the namespace), then run the whole scenario once in the namespace.
    (Environments build once per cache; the sample tasks share three, and the session's
    cache already holds them when another test built them first.)"""
    from swelego_ray.envs.builder import EnvBuilder
    from swelego_ray.harness import task_environment
    from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
    from swelego_ray.schema import read_tasks

    root = tmp_path_factory.mktemp("jobcluster")
    repos = materialize_sample_repos(root / "repos")
    cache = sandbox_cache
    builder = EnvBuilder(cache)
    for task in read_tasks(sample_tasks_path()):
        builder.ensure(task_environment(task, repos, cache))
    return run_in_netns(HERE / "ns_job_cluster.py", str(repos), str(cache), timeout=600)


def test_check_cluster_job_through_the_job_api(cluster_run):
    check = cluster_run["check"]
    assert check["returncode"] == 0, check["cli_tail"]
    assert check["status"] == "SUCCEEDED", check
    assert cluster_run["nodes"] == 2
    # Both nodes wrote, listed and read back a key on the S3 server.
    assert "[cluster_check] in=2 out=2 (reused 0) dropped=0" in check["logs"], check["logs"]


def test_evaluate_job_survives_a_lost_node_and_reruns_skip_finished_work(cluster_run):
    ev = cluster_run["evaluate"]
    n = ev["tasks"]
    a, b = ev["A"], ev["B"]
    # A: the worker node died mid-job; the engine ran the items it took with it once more,
    # on the replacement node, and the job finished with every task resolved.
    assert 2 <= a["stored_at_kill"] < n, a
    assert a["status"] == "SUCCEEDED", a["logs"]  # (the tail of its log is Ray's noise)
    assert a["stored_after"] == n, a
    # B: resubmitted: every result is reused, nothing runs; every task resolves.
    assert b["returncode"] == 0, b["tail"]
    assert (b["resolved"], b["total"], b["errors"]) == (n, n, 0), b
    assert b["reused"] == n, b
    assert ev["stored_results"] == n
