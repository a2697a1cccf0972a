"""Inside a private namespace: a real multi-node Ray cluster (head without CPUs + one worker
node, via `ray start`) and an S3 server, all on loopback. Prints RESULT {...}.

1. `ray job submit` jobs/check_cluster.py; status and logs read back via the job API.
2. The evaluate job on the sample tasks, reading tasks and its config from S3 and writing
   results and reports there:
   A. submitted, and mid-job the worker node is killed (a replacement node joins, as an
      autoscaler would bring one): the engine runs the items in flight once more, on the
      replacement, and the job completes;
   B. resubmitted: everything is reused, nothing runs.

Usage: ns_job_cluster.py REPOS_DIR CACHE_ROOT (environments prebuilt there: no PyPI here).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nsutil import (
    BUCKET,
    alive_nodes,
    ray_env,
    ray_start,
    ray_stop,
    start_cluster,
    start_s3,
    submit,
    wait_for,
    worker_args,
)

WORKER = {"cpus": 2, "resources": {"sandbox": 2}}
T0 = time.monotonic()


def note(what: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {what}", file=sys.stderr, flush=True)


def check_job(address: str, opts: str) -> dict:
    from ray.job_submission import JobSubmissionClient

    start = time.monotonic()
    proc = submit(address, "python", "jobs/check_cluster.py", f"storage=s3://{BUCKET}/runs{opts}",
                  "min_nodes=2")  # fmt: skip
    client = JobSubmissionClient(address)
    job = next(j for j in client.list_jobs() if "check_cluster.py" in j.entrypoint)
    return {
        "returncode": proc.returncode,
        "cli_tail": (proc.stdout + proc.stderr)[-2000:],
        "status": str(job.status),
        "logs": client.get_job_logs(job.submission_id)[-3000:],
        "seconds": round(time.monotonic() - start, 1),
    }


def kill_worker_node() -> str:
    """Lose the worker node as a terminated instance would: SIGKILL its raylet and every
    process under it (workers, agents, sandboxes). Returns its node id."""
    import psutil

    worker = next(n for n in alive_nodes() if n["Resources"].get("CPU", 0) > 0)
    socket = f"--raylet_socket_name={worker['RayletSocketName']}"
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "raylet" and socket in (proc.info["cmdline"] or []):
            for p in [*proc.children(recursive=True), proc]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            return worker["NodeID"]
    raise RuntimeError(f"no raylet with {socket}")


def evaluate_jobs(address: str, opts: str, repos: str, cache: str) -> dict:
    from ray.job_submission import JobStatus, JobSubmissionClient

    from swelego_ray.samples import sample_tasks_path
    from swelego_ray.schema import read_tasks, write_tasks
    from swelego_ray.storage import Store

    store = Store(f"s3://{BUCKET}{opts}")
    tasks = _two_per_repository(read_tasks(sample_tasks_path()))
    write_tasks(tasks, store.uri_of("tasks/samples.jsonl"))
    config = {
        "tasks": store.uri_of("tasks/samples.jsonl"),
        "predictions": "gold",
        "out": store.uri_of("runs/eval"),
        "repos_dir": repos,
        "cache_root": cache,
        "backend": {"kind": "local", "cache_root": cache},
        "workers": 2,
        "item_resources": {"sandbox": 1},  # as jobs/configs/evaluate.yaml asks
        "timeout_s": 600,
        "limits": {"timeout_s": 120, "memory_mb": 2048},
        "progress": False,
    }
    store.write_json("configs/evaluate.json", config)  # JSON is YAML
    entry = ["python", "jobs/evaluate.py", "--config", store.uri_of("configs/evaluate.json")]
    out = Store(config["out"])

    def results() -> set[str]:
        return {k for k in out.list("evaluate") if k.count("/") == 2 and k.endswith(".json")}

    # A: kill the worker node once a few results are stored; a replacement node joins.
    client = JobSubmissionClient(address)
    start = time.monotonic()
    job_a = client.submit_job(entrypoint=" ".join(f"'{a}'" for a in entry),
                              runtime_env=_runtime_env())  # fmt: skip

    def enough_stored() -> bool:
        if client.get_job_status(job_a) in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            raise RuntimeError(f"job A ended before the kill:\n{client.get_job_logs(job_a)}")
        return len(results()) >= 2

    wait_for(enough_stored, 240, "2 stored results before the kill", every=0.3)
    stored_at_kill = len(results())
    note(f"killing the worker node ({stored_at_kill} results stored)")
    killed = kill_worker_node()
    wait_for(lambda: all(n["NodeID"] != killed for n in alive_nodes()), 60, "node death")
    ray_start(*worker_args(WORKER["cpus"], WORKER["resources"]))
    wait_for(
        lambda: client.get_job_status(job_a) in (JobStatus.SUCCEEDED, JobStatus.FAILED), 300,
        "job A to end",
    )  # fmt: skip
    note("job A ended")
    a = {
        "status": str(client.get_job_status(job_a)),
        "logs": client.get_job_logs(job_a)[-2500:],
        "stored_at_kill": stored_at_kill,
        "stored_after": len(results()),
        "seconds": round(time.monotonic() - start, 1),
    }
    # B: resubmit with `ray job submit`, as a user would.
    t = time.monotonic()
    proc = submit(address, *entry, timeout=400)
    note("job B ended")
    report = out.read_json("report.json")
    b = {
        "returncode": proc.returncode,
        "tail": (proc.stdout + proc.stderr)[-2500:],
        "resolved": report["resolved_instances"],
        "total": report["total_instances"],
        "errors": report["error_instances"],
        "reused": report["funnel"]["reused_from_earlier_run"],
        "seconds": round(time.monotonic() - t, 1),
    }
    durations = sorted(out.read_json(k)["duration_s"] for k in results())
    return {
        "tasks": len(tasks),
        "A": a,
        "B": b,
        "stored_results": len(results()),
        "item_seconds": {
            "median": durations[len(durations) // 2],
            "max": durations[-1],
            "total": round(sum(durations), 1),
        },
    }


def _two_per_repository(tasks: list) -> list:
    """A smaller set (6 of the 12 samples) that still covers every sample environment."""
    seen: dict[str, int] = {}
    keep = []
    for task in tasks:
        seen[task.repo] = seen.get(task.repo, 0) + 1
        if seen[task.repo] <= 2:
            keep.append(task)
    return keep


def _runtime_env() -> dict:
    import yaml

    env = yaml.safe_load(Path("jobs/runtime_env.yaml").read_text())
    env["working_dir"] = str(Path.cwd())
    return env


def main(repos: str, cache: str) -> dict:
    import ray

    t0 = time.monotonic()
    ray_env(UV_OFFLINE="1")  # nothing to download here: environments are prebuilt
    opts = start_s3()
    address = start_cluster(worker_cpus=WORKER["cpus"], worker_resources=WORKER["resources"])
    ray.init(address="127.0.0.1:6379", log_to_driver=False)
    wait_for(lambda: len(alive_nodes()) == 2, 60, "the worker node to join")
    result = {"cluster_up_s": round(time.monotonic() - t0, 1), "nodes": len(alive_nodes())}
    note("cluster up")
    result["check"] = check_job(address, opts)
    note("check job done")
    result["evaluate"] = evaluate_jobs(address, opts, repos, cache)
    return result


if __name__ == "__main__":
    try:
        result = main(sys.argv[1], sys.argv[2])
    finally:
        ray_stop()
    print("RESULT " + json.dumps(result), flush=True)
