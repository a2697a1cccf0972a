"""The embedded default backend: bubblewrap process sandboxes on a built environment.

The backend starts sandboxes on an environment built by the layer above (a BuiltEnv: the
testbed and venv swelego_ray.envs.builder made). `start` gives each sandbox a
copy-on-write view of the built testbed at /testbed (`start_prepared`: of a kept start
state on top of it, see sandbox._states) (OverlayFS in a private user namespace, or a
reflink/plain copy where OverlayFS is unavailable), the venv read-only at
/opt/swelego/venv and a private /tmp (also HOME). Every command runs in bubblewrap with all
namespaces new, no capabilities, no network (only a private loopback), a read-only root
built from an allow-list (sandbox._bwrap: nothing of /root, /home, the project, the cache
root or /run; the venv's interpreter prefix is bound where the venv expects it), a
deadline that kills the whole process tree, RLIMIT_AS, a pids limit and an output cap.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from swelego_ray.sandbox import _workspaces as ws
from swelego_ray.sandbox._backend import BuiltEnv, StartState
from swelego_ray.sandbox._bwrap import (
    SANDBOX_PATH,
    Mount,
    bwrap_argv,
    bwrap_path,
    bwrap_version,
    overlay_argv,
    overlay_supported,
    prefix_mounts,
)
from swelego_ray.sandbox._cgroups import SandboxCgroups, cgroup_root
from swelego_ray.sandbox._disk import DiskGuard
from swelego_ray.sandbox._exec import kill_group, limits_prefix, run_limited
from swelego_ray.sandbox._git import diff_command, drop_binary
from swelego_ray.sandbox._protocol import TESTBED, VENV, ExecResult, Limits, SandboxError
from swelego_ray.sandbox._seccomp import describe as seccomp_describe
from swelego_ray.sandbox._session import FdChannel, SessionSlot, ShellProcess, ShellSession
from swelego_ray.sandbox._states import HeldState, StateStore
from swelego_ray.storage import default_cache_root

logger = logging.getLogger(__name__)


@functools.cache
def _announce(description: str) -> None:
    """Log the active isolation once per process (backends are cheap and made often)."""
    logger.info("%s", description)


class LocalConfig(BaseModel):
    """Settings of the local backend (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cache_root: Path | None = None  # default: $SWELEGO_CACHE or ~/.cache/swelego
    workspace_root: Path | None = None  # default: <cache_root>/sandboxes
    workspace: Literal["auto", "overlay", "copy"] = "auto"
    start_state_cache_gb: float = 20.0  # kept start states (start_prepared), LRU-evicted


class LocalBackend:
    """Local sandboxes on built environments (swelego_ray.envs.get_backend("local") adds
    the builder and makes it a SandboxBackend)."""

    name = "local"

    def __init__(self, config: LocalConfig | None = None, **overrides: object) -> None:
        base = (config or LocalConfig()).model_dump(exclude_unset=True)
        self.config = LocalConfig.model_validate({**base, **overrides})  # rejects unknown keys
        bwrap_path()  # fail now, with install instructions, if bubblewrap is missing
        self.cache_root = self.config.cache_root or default_cache_root()
        self.workspace_root = self.config.workspace_root or self.cache_root / "sandboxes"
        self.workspace_root.mkdir(parents=True, exist_ok=True)
        mode = self.config.workspace
        if mode == "auto":
            mode = "overlay" if overlay_supported(self.workspace_root) else "copy"
        elif mode == "overlay" and not overlay_supported(self.workspace_root):
            raise SandboxError("OverlayFS in a user namespace is not available on this host")
        self.mode: Literal["overlay", "copy"] = mode
        self.pids_mode = "cgroup pids.max" if cgroup_root("pids") else "RLIMIT_NPROC (best effort)"
        self.memory_mode = "RLIMIT_AS per process" + (
            " + a cgroup memory limit for the sandbox (OOM kills reported)"
            if cgroup_root("memory")
            else " (no memory cgroup: processes together may exceed it)"
        )
        cap = int(self.config.start_state_cache_gb * 2**30)
        self.states = StateStore(self.cache_root / "start-states", cap)
        _announce(self.describe())

    def describe(self) -> str:
        """What isolation is active, in one line."""
        workspace = "OverlayFS copy-on-write" if self.mode == "overlay" else "reflink/plain copy"
        return (
            f"local sandbox ({bwrap_version()}): new user/mount/pid/net/ipc/uts/cgroup "
            "namespaces, capabilities dropped, nested user namespaces disabled; network off "
            "(private loopback only); read-only root from an allow-list (/usr, a synthesized "
            "/etc, the venv and its interpreter; no /root, /home, /run or host sockets); "
            f"writable: {TESTBED} ({workspace}) and a "
            f"private /tmp; deadline kills the process tree; memory: {self.memory_mode}; pids: "
            f"{self.pids_mode}; disk: writes to {TESTBED} and /tmp checked every 0.1 s while a "
            "command runs (killed at Limits.disk_mb) + RLIMIT_FSIZE + "
            f"{seccomp_describe()}; output capped (head and "
            "tail kept); CPU not throttled"
        )

    def start(
        self, built: BuiltEnv, limits: Limits | None = None, *, commit: str | None = None
    ) -> LocalSandbox:
        """A fresh sandbox on the built testbed, or on a clean checkout of `commit` (another
        commit of the same repository, e.g. a task's base commit) with the built venv."""
        lower, base = self._lower(built, commit)
        return self._sandbox(built, [lower], base, limits)

    def start_prepared(
        self, built: BuiltEnv, state: StartState, limits: Limits | None = None
    ) -> tuple[LocalSandbox, str]:
        """A sandbox in `state`: its kept layer under a fresh copy-on-write workspace, or,
        the first time, a sandbox that `state.prepare` ran in, whose workspace is then kept
        (see sandbox._states)."""
        lower, base = self._lower(built, state.commit)
        state_id = self.states.state_id(built.key, state.key, [lower])
        held = self.states.acquire(state_id)
        if held is not None:
            lowers = [held.layer] if self.mode == "copy" else [held.layer, lower]
            return self._sandbox(built, lowers, base, limits, held), held.note
        sandbox = self._sandbox(built, [lower], base, limits)
        try:
            note = state.prepare(sandbox)
            sandbox.keep_as_state(self.states, state_id, note)
        except BaseException:
            sandbox.close()
            raise
        return sandbox, note

    def _lower(self, built: BuiltEnv, commit: str | None) -> tuple[Path, str]:
        """The checkout a sandbox starts from (the built testbed, or a clean checkout of
        another `commit`) and the commit it is at."""
        if built.testbed is None or built.venv is None:
            raise SandboxError(f"environment {built.key} was not built for the local backend")
        if commit and not built.is_built_commit(commit):
            lower = built.checkout(commit)
            return lower, lower.name
        return built.testbed, built.head

    def _sandbox(
        self,
        built: BuiltEnv,
        lowers: list[Path],
        base: str,
        limits: Limits | None,
        held: HeldState | None = None,
    ) -> LocalSandbox:
        root = ws.process_dir(self.workspace_root) / uuid.uuid4().hex[:12]
        try:
            return LocalSandbox(
                root=root,
                lowers=lowers,
                base=base,
                venv=built.venv,
                venv_prefixes=built.venv_prefixes,
                limits=limits or Limits(),
                mode=self.mode,
                env_vars=dict(built.env_vars),
                held=held,
            )
        except BaseException:
            if held is not None:
                held.release()
            raise


# The session's bubblewrap runs this: the auxiliary shell on the pipes passed as $1
# (requests) and $2 (answers), detached (no descendant of the main shell, which signals
# go to), and the main shell as the sandbox's own process (when it exits, the sandbox
# ends and everything in it dies).
_SESSION_HUB = (
    'exec 3<&"$1" 4>&"$2"; eval "exec $1<&- $2>&-"; '
    "(bash --norc --noprofile <&3 >&4 2>&1 3<&- 4>&- &); "
    "exec bash --norc --noprofile --noediting -i 3<&- 4>&- 2>&1"
)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_tree(source: Path, target: Path) -> None:
    copy = subprocess.run(
        ["cp", "-a", "--reflink=auto", str(source), str(target)], capture_output=True, text=True
    )
    if copy.returncode != 0:
        raise SandboxError(f"copying the testbed failed: {copy.stderr.strip()}")


def _disk_guard(root: Path, mode: Literal["overlay", "copy"], disk_mb: int) -> DiskGuard:
    """The writable trees of a sandbox under `root` against `disk_mb`: the overlay's upper
    and work dirs (empty at start), or the copied testbed (its copy is the baseline), and
    the private /tmp."""
    if mode == "overlay":
        return DiskGuard([root / "upper", root / "work", root / "tmp"], disk_mb)
    guard = DiskGuard([root / "testbed", root / "tmp"], disk_mb)
    guard.rebaseline()
    return guard


class LocalSandbox:
    """One running local sandbox (see the module docstring)."""

    def __init__(
        self,
        *,
        root: Path,
        lowers: list[Path],
        base: str,
        venv: Path,
        venv_prefixes: tuple[Path, ...],
        limits: Limits,
        mode: Literal["overlay", "copy"],
        env_vars: dict[str, str],
        held: HeldState | None = None,
    ) -> None:
        self.root, self.lowers, self.base, self.venv = root, lowers, base, venv
        self.venv_prefixes = venv_prefixes  # where the venv's interpreter lives on the host
        self.limits, self.mode, self.env_vars = limits, mode, env_vars
        self._held = held  # the kept start state under this sandbox, if any
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._session = SessionSlot(self._lock)
        self._closed = False
        for sub in ("upper", "work", "merged", "tmp") if mode == "overlay" else ("tmp",):
            (root / sub).mkdir(parents=True)
        if mode == "copy":
            try:
                _copy_tree(lowers[0], root / "testbed")
            except SandboxError:
                ws.remove_tree(root)
                raise
        self._cgroups = SandboxCgroups(root.name, pids=limits.pids, memory_mb=limits.memory_mb)
        self._disk = _disk_guard(root, mode, limits.disk_mb)
        if limits.network:
            logger.warning(
                "sandbox %s runs WITH a network (limits.network=True): user-mode, the "
                "host's own services unreachable",
                root,
            )

    @property
    def lower(self) -> Path:
        """The checkout this sandbox started from (below any kept start state)."""
        return self.lowers[-1]

    def keep_as_state(self, states: StateStore, state_id: str, note: str) -> None:
        """Freeze this sandbox's workspace as start state `state_id` and go on on top of
        it (nothing runs between commands, so the workspace is at rest)."""
        with self._lock:
            if self._closed:
                raise SandboxError(f"sandbox {self.root.name} is closed")
            workspace = self.root / ("upper" if self.mode == "overlay" else "testbed")
            held = states.publish(state_id, workspace, note)
            if held is None:  # another sandbox kept the same state first; ours stays
                return
            self._held = held
            if self.mode == "overlay":
                workspace.mkdir()
                ws.remove_tree(self.root / "work")
                (self.root / "work").mkdir()
                self.lowers = [held.layer, *self.lowers]
            else:
                _copy_tree(held.layer, workspace)
                self.lowers = [held.layer]
                self._disk.rebaseline()  # the kept state is set-up, not this sandbox's writes

    # -- running commands -------------------------------------------------------------
    def _argv(self, inner: list[str]) -> list[str]:
        testbed = self.root / ("merged" if self.mode == "overlay" else "testbed")
        mounts = [Mount(testbed, TESTBED, writable=True), Mount(self.venv, VENV)]
        mounts += prefix_mounts(self.venv_prefixes)  # where the venv's python lives
        argv = bwrap_argv(mounts, network=self.limits.network, tmp=self.root / "tmp") + inner
        if self.mode == "overlay":
            work = self.root / "work"
            argv = overlay_argv(self.lowers, self.root / "upper", work, testbed) + argv
        return argv

    def _env(self, env: dict[str, str] | None) -> dict[str, str]:
        return {
            "PATH": SANDBOX_PATH,
            "VIRTUAL_ENV": VENV,
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PIP_NO_INDEX": "1",  # no network: fail fast instead of retrying
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_OFFLINE": "1",
            **self.env_vars,
            **(env or {}),
        }

    def _limited_argv(self, inner: list[str]) -> list[str]:
        """The full argv of `inner` in this sandbox: limits, overlay, bubblewrap."""
        cgroups = self._cgroups
        # RLIMIT_AS fails a too-large allocation at once (a clean MemoryError); the memory
        # cgroup, where available, also caps the sum over all the sandbox's processes.
        prefix = limits_prefix(
            self.limits.memory_mb, cgroups.procs_files, fsize_mb=self.limits.disk_mb
        )
        if not cgroups.has("pids"):
            # RLIMIT_NPROC set inside the sandbox counts only its own processes; set outside
            # it would count every process of the host user. Some kernels ignore it in user
            # namespaces: describe() says "RLIMIT_NPROC (best effort)" then.
            nproc = 'ulimit -u "$0" 2>/dev/null; exec "$@"'
            inner = ["bash", "-c", nproc, str(self.limits.pids), *inner]
        return prefix + self._argv(inner)

    def _run(
        self,
        inner: list[str],
        *,
        timeout_s: float,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        output_bytes: int | None = None,
    ) -> ExecResult:
        full_env = self._env(env)
        cgroups = self._cgroups
        with self._lock:
            self._check_usable()
            argv = self._limited_argv(inner)
            oom_kills = cgroups.oom_kills()
            result = run_limited(
                argv,
                env=full_env,
                timeout_s=timeout_s,
                output_bytes=output_bytes or self.limits.output_bytes,
                stdin=stdin,
                on_start=self._track,
                disk=self._disk,
                settle=cgroups.settle,
            )
            self._proc = None
            if cgroups.oom_kills() > oom_kills:  # the memory cgroup's OOM killer struck
                note = f"\n[killed: out of memory (limit {self.limits.memory_mb} MiB)]\n"
                result = result.model_copy(update={"oom": True, "output": result.output + note})
        head = result.output[:200]
        if result.exit_code == 126 and "swelego: cannot apply limits" in head:
            raise SandboxError(f"sandbox {self.root.name}: {result.output.strip()}")
        if result.exit_code == 125 and "swelego: overlay mount failed" in head:
            raise SandboxError(f"sandbox {self.root.name}: {result.output.strip()}")
        if result.exit_code == 1 and head.startswith("bwrap: "):
            raise SandboxError(f"sandbox {self.root.name}: {result.output.strip()}")
        return result

    def _track(self, proc: subprocess.Popen) -> None:
        self._proc = proc

    def exec(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        return self._run(
            ["bash", "-c", command],
            timeout_s=timeout_s or self.limits.timeout_s,
            env=env,
            stdin=stdin,
        )

    # -- the shell session -------------------------------------------------------------
    def session(self, *, idle_s: float = 30.0) -> ShellSession:
        """A persistent shell in this sandbox (sandbox._session): one bubblewrap sandbox
        with the same view, limits and isolation as `exec`, kept for the session's life.
        While it is open, `exec` and the file methods refuse (their own mount of the
        workspace would not see the session's view coherently); `close()` ends it."""
        return self._session.open(
            self._spawn_shell, self.limits, disk=self._disk, idle_s=idle_s, check=self._check_usable
        )

    def _spawn_shell(self) -> ShellProcess:
        """Start the session's two shells in one bubblewrap sandbox (sandbox._session)."""
        aux_in, aux_out = os.pipe(), os.pipe()
        child_in = fcntl.fcntl(aux_in[0], fcntl.F_DUPFD_CLOEXEC, 20)
        child_out = fcntl.fcntl(aux_out[1], fcntl.F_DUPFD_CLOEXEC, 20)
        for fd in (aux_in[0], aux_out[1]):
            os.close(fd)
        inner = ["bash", "-c", _SESSION_HUB, "swelego-session", str(child_in), str(child_out)]
        try:
            proc = subprocess.Popen(
                self._limited_argv(inner),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self._env(None),
                start_new_session=True,
                pass_fds=(child_in, child_out),
                bufsize=0,
            )
        except OSError as err:
            for fd in (child_in, child_out, aux_in[1], aux_out[0]):
                os.close(fd)
            raise SandboxError(f"cannot start a shell session: {err}") from err
        finally:
            for fd in (child_in, child_out):
                with contextlib.suppress(OSError):
                    os.close(fd)
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        main = FdChannel(stdout.fileno(), stdin.write, [stdin.close, stdout.close])
        aux = FdChannel(
            aux_out[0],
            lambda data: _write_all(aux_in[1], data),
            [lambda: os.close(aux_in[1]), lambda: os.close(aux_out[0])],
        )

        def kill_all() -> None:
            kill_group(proc)
            proc.wait()
            self._cgroups.settle()

        return ShellProcess(main, aux, kill_all, self._cgroups.oom_kills)

    def _check_usable(self) -> None:
        """SandboxError when closed, or while a shell session holds the workspace."""
        if self._closed:
            raise SandboxError(f"sandbox {self.root.name} is closed")
        if self._session.busy:
            raise SandboxError(
                f"sandbox {self.root.name} has an open shell session: run commands in it, "
                "or close it first"
            )

    # -- files and diffs --------------------------------------------------------------
    def read_file(self, path: str) -> str:
        result = self._run(["cat", "--", path], timeout_s=60, output_bytes=1 << 30)
        if result.exit_code != 0:
            if "No such file" in result.output:
                raise FileNotFoundError(f"{path}: no such file in the sandbox")
            raise OSError(f"cannot read {path}: {result.output.strip()}")
        return result.output

    def write_file(self, path: str, content: str) -> None:
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
        result = self._run(["sh", "-c", script, "sh", path], timeout_s=60, stdin=content.encode())
        if result.exit_code != 0:
            raise PermissionError(f"cannot write {path}: {result.output.strip()}")

    def diff(self, base: str | None = None) -> str:
        """Changes since the start commit (or `base`), staged with `git add -A`, binary
        files dropped."""
        command = diff_command(base or self.base)
        result = self._run(["bash", "-c", command], timeout_s=120, output_bytes=1 << 30)
        if result.exit_code != 0:
            raise SandboxError(f"git diff failed: {result.output.strip()[-2000:]}")
        return drop_binary(result.output)

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        self._session.close()
        proc = self._proc
        if proc is not None:
            kill_group(proc)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                ws.remove_tree(self.root)
            self._cgroups.remove()
            if self._held is not None:
                self._held.release()

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self._closed and shutil is not None:
                self.close()
