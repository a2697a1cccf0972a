"""The sandbox contract every backend implements, and the records it exchanges.

Paths inside a sandbox are fixed on every backend: the repository is at TESTBED and the
environment's Python virtualenv at VENV (its bin/ first on PATH), like SWE-bench images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from swelego_ray.sandbox._session import ShellSession

TESTBED = "/testbed"
VENV = "/opt/swelego/venv"


class SandboxError(RuntimeError):
    """An infrastructure fault (the sandbox could not start, died, ...), not a test result."""


class Limits(BaseModel):
    """Resource limits applied to every command in a sandbox."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = 300.0  # default per-command deadline; the whole process tree is killed
    memory_mb: int = 4096  # address-space / cgroup memory limit per command
    output_bytes: int = 1_000_000  # output beyond this is cut (head and tail kept)
    pids: int = 512
    disk_mb: int = Field(4096, gt=0)
    """What the sandbox may write (its /testbed changes plus /tmp, together), MiB. Reaching
    it kills the command (`ExecResult.disk_limit`); no single file grows past it. 4 GiB:
    the memory default's size; the sample tasks' evaluations write ~0.1 MiB, so real
    suites' caches, artefacts and in-place builds have ample room, while a runaway or
    hostile command is stopped long before it fills a node (N sandboxes: N x 4 GiB)."""
    cpus: float = 1.0  # docker backend; the local backend does not throttle CPU
    network: bool = False  # tests never get a network


class ExecResult(BaseModel):
    """What one command did. Test failures are results; only infra faults raise."""

    model_config = ConfigDict(extra="forbid")

    exit_code: int
    output: str  # stdout and stderr interleaved
    timed_out: bool = False
    oom: bool = False
    disk_limit: bool = False  # killed (or a write refused) at Limits.disk_mb
    truncated: bool = False
    duration_s: float = 0.0


@runtime_checkable
class Sandbox(Protocol):
    """A running, isolated workspace holding one checkout of a repository at TESTBED."""

    def exec(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run `command` with bash in TESTBED under the sandbox's limits; `stdin` (bytes)
        is its standard input (default: empty)."""
        ...

    def read_file(self, path: str) -> str:
        """Read a file (absolute, or relative to TESTBED)."""
        ...

    def write_file(self, path: str, content: str) -> None:
        """Write a file (absolute, or relative to TESTBED), creating parent directories."""
        ...

    def diff(self, base: str | None = None) -> str:
        """`git add -A && git diff --cached` against the starting commit (or `base`, e.g.
        the single commit a synthetic task's sanitisation re-initialised), binary diffs
        removed."""
        ...

    def session(self, *, idle_s: float = 30.0) -> ShellSession:
        """A persistent shell in the sandbox (cwd, variables and background jobs survive
        between commands; see sandbox._session). While it is open, `exec`, the file
        methods and `diff` raise SandboxError; closing it kills everything it started."""
        ...

    def close(self) -> None:
        """Stop every process and remove the workspace; safe to call twice."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc: object) -> None: ...
