"""Shared fixtures. Servers are started here, on loopback, and torn down after the session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

LOCAL_RAY_CPUS = 4  # logical CPUs; oversubscribed so actor pools cannot deadlock


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session (starting Ray costs ~5 s)."""
    import ray

    from swelego_ray._ray import init_ray

    init_ray(num_cpus=LOCAL_RAY_CPUS)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def sandbox_cache(tmp_path_factory) -> Path:
    """One environment cache for the session: environments (the samples' too) build once
    (tests/sandbox has its own)."""
    return tmp_path_factory.mktemp("swelego-cache")


@pytest.fixture(autouse=True)
def _ray_head_stays_up():
    """Fail the test after which this process's local Ray head is dead. Ray's driver
    otherwise exits 60 s later with status 1 and its message in pytest's capture: the
    whole suite ends silently, blaming no test."""
    yield
    ray = sys.modules.get("ray")
    node = ray._private.worker._global_node if ray is not None else None
    if node is None or not ray.is_initialized():
        return  # no local Ray started by this process
    dead = {
        name: [info.process.poll() for info in infos]
        for name, infos in node.all_processes.items()
        if name in ("gcs_server", "raylet") and any(i.process.poll() is not None for i in infos)
    }
    if not dead:
        return
    logs = Path(node.get_logs_dir_path())
    tails = "\n".join(
        f"--- {f.name}\n{f.read_text(errors='replace')[-1500:]}"
        for name in dead
        for f in sorted(logs.glob(f"{name}.*"))
    )
    ray.shutdown()  # disconnect now, before the driver's 60 s reconnect deadline
    from swelego_ray._ray import init_ray

    init_ray(num_cpus=LOCAL_RAY_CPUS)  # a new one for the tests that follow
    pytest.fail(f"the session's Ray head died during this test (exit codes {dead})\n{tails}")


@pytest.fixture
def make_git_repo(tmp_path):
    """Build a small git repository: make_git_repo({"path": "text", ...}, name=...) ->
    (path, [commit shas]); pass a list of file dicts for several commits."""
    import subprocess

    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@localhost",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@localhost",
        "PATH": "/usr/bin:/bin",
    }

    def git(repo, *args):
        return subprocess.run(
            ["git", "-c", "init.defaultBranch=main", *args],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def make(commits, name="repo"):
        repo = tmp_path / name
        repo.mkdir(parents=True)
        git(repo, "init", "-q")
        shas = []
        for i, files in enumerate(commits if isinstance(commits, list) else [commits]):
            for rel, text in files.items():
                target = repo / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", f"commit {i}")
            shas.append(git(repo, "rev-parse", "HEAD"))
        return repo, shas

    return make


class S3Endpoint:
    """A running S3-compatible server: `uri("runs/x")` -> `s3://BUCKET/runs/x?endpoint...`."""

    def __init__(self, host: str, port: int, bucket: str) -> None:
        self.host, self.port, self.bucket = host, port, bucket
        self.endpoint = f"{host}:{port}"

    def uri(self, prefix: str = "", **options: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        base = f"s3://{self.bucket}/{prefix.strip('/')}".rstrip("/")
        return f"{base}?endpoint_override={self.endpoint}&scheme=http" + (
            f"&{query}" if query else ""
        )

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=f"http://{self.endpoint}", region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on 127.0.0.1, one bucket, for the
    session. Dummy credentials are set so no client ever asks an instance-metadata service."""
    import logging
    import os

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    creds = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in creds}
    os.environ.update(creds)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = S3Endpoint(host, port, "swelego-test")
    endpoint.client().create_bucket(Bucket=endpoint.bucket)
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory):
    """podman's Docker-API service on a private unix socket for the session, with the
    offline debootstrap base image (built once, ~1-2 min, then kept in the engine and as a
    tarball under the swelego cache). Yields a DockerEnvConfig for it. Fails (never skips)
    when podman is missing: scripts/setup.sh installs it."""
    import shutil

    if shutil.which("podman") is None or shutil.which("runc") is None:
        pytest.fail("docker tests need podman and runc (run scripts/setup.sh)")
    from swelego_ray.envs.backends import offline_config
    from swelego_ray.sandbox.podman_service import PodmanService

    with PodmanService(tmp_path_factory.mktemp("podman")) as service:
        yield offline_config(service.url)


@pytest.fixture(scope="session")
def tiny_llm_server(tmp_path_factory):
    """vLLM's OpenAI-compatible server (CPU engine) on 127.0.0.1 serving the project's tiny
    random Qwen3 as model "tiny", with native tool calls (hermes parser), for the session.
    Yields a swelego_ray.llm.local_server.LocalServer: .base_url, .model, .config(),
    .startup_s. Starting costs ~30 s here (vLLM imports twice); it writes nonsense."""
    from swelego_ray.llm.local_server import LocalServer
    from swelego_ray.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("tiny_llm")
    model = build_tiny_model(root / "tiny", seed=0)
    with LocalServer(model, served_model_name="tiny", log_path=root / "vllm.log") as server:
        yield server
