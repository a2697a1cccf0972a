"""Start podman's Docker-API service on a private unix socket (tests, laptops, CI).

podman needs two settings on hosts like ours (Debian 12, hybrid cgroups, a low hard
`nofile` limit): runc instead of crun, and default ulimits under the hard limit. They go
in a containers.conf of our own, passed through CONTAINERS_CONF to this service only;
`exit_command_delay = 5` stops every exec from leaving conmon processes for 300 s.

    with PodmanService(Path("/tmp/x")) as svc:
        backend = get_backend("docker", offline_config(svc.url))  # from swelego_ray.envs
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from swelego_ray.sandbox._protocol import SandboxError

logger = logging.getLogger(__name__)

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
exit_command_delay = 5
"""


class PodmanService:
    """`podman system service --time=0 unix://<workdir>/podman.sock`, stopped on exit."""

    def __init__(self, workdir: Path, *, start_timeout_s: float = 30.0) -> None:
        self.workdir = Path(workdir)
        self.socket = self.workdir / "podman.sock"
        self.url = f"unix://{self.socket}"
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PodmanService:
        podman = shutil.which("podman")
        if podman is None:
            raise SandboxError(
                "podman is not installed: run scripts/setup.sh (apt-get install podman runc)"
            )
        if shutil.which("runc") is None:
            raise SandboxError("runc is not installed: run scripts/setup.sh (apt-get install runc)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.socket.unlink(missing_ok=True)
        log = open(self.workdir / "podman-service.log", "ab")  # noqa: SIM115 (owned by Popen)
        self._proc = subprocess.Popen(
            [podman, "system", "service", "--time=0", self.url],
            env={**os.environ, "CONTAINERS_CONF": str(conf)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,  # conmon writes an `oom` marker file into its working directory
        )
        log.close()
        self._wait_ready()
        logger.info("podman Docker-API service at %s (pid %d)", self.url, self._proc.pid)
        return self

    def _wait_ready(self) -> None:
        import docker

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                tail = (self.workdir / "podman-service.log").read_text(errors="replace")[-2000:]
                raise SandboxError(f"podman service exited with {self._proc.returncode}: {tail}")
            if self.socket.exists():
                try:
                    client = docker.DockerClient(base_url=self.url, timeout=5)
                    client.ping()
                    client.close()
                    return
                except docker.errors.DockerException:
                    pass
            time.sleep(0.1)
        self.stop()
        raise SandboxError(f"podman service at {self.url} not ready after {self.start_timeout_s}s")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self.socket.unlink(missing_ok=True)

    def __enter__(self) -> PodmanService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
