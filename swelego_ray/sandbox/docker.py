"""The docker backend: one image per environment, one container per sandbox, any Docker-API
engine (Docker, or podman's service; DOCKER_HOST or DockerConfig.base_url).

A sandbox container has no network, a memory limit without swap, a pids limit and a CPU
quota from Limits, the engine's default seccomp profile with fallocate denied (space is
only taken by writes, which the disk limit sees; _docker_engine.seccomp_security_opt), and
is removed on close, at interpreter exit, or by the next backend if its owner crashed.
Commands get a deadline that really stops them (see _docker_exec), an output cap that keeps
head and tail, and OOM kills are reported from the container's cgroup counter.

The root filesystem is the container's own copy-on-write layer, thrown away with it.
`read_only=True` makes it read-only with TESTBED on an anonymous volume instead, which
the engine fills by copying the image's TESTBED at every start: measured with podman,
6.4 s per start and 4.5 s per close for a 6,000-file repository (0.3 s and 0.2 s with a
writable root), so it is an option for small repositories, not the default.

Start states (`start_prepared`) are prepared containers committed as images and started
like environment images (see _docker_states); a commit misses the read-only TESTBED
volume, so with `read_only=True` every call prepares again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import posixpath
import shlex
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from swelego_ray.sandbox import _docker_engine as engine
from swelego_ray.sandbox import _docker_states as states
from swelego_ray.sandbox._backend import BuiltEnv, StartState
from swelego_ray.sandbox._disk import DiskGuard
from swelego_ray.sandbox._docker_engine import (
    HEAD_FILE,
    LABEL_HEAD,
    MISSING_TOOLS_SHELL,
    missing_tools_message,
)
from swelego_ray.sandbox._docker_exec import (
    DiskWatchdog,
    StdinFeeder,
    Trailer,
    Watchdog,
    read_capped,
    wrapper_argv,
)
from swelego_ray.sandbox._exec import OutputCap
from swelego_ray.sandbox._git import diff_command, drop_binary
from swelego_ray.sandbox._protocol import TESTBED, ExecResult, Limits, SandboxError
from swelego_ray.sandbox._session import (
    FdChannel,
    FrameDemux,
    SessionSlot,
    ShellProcess,
    ShellSession,
)
from swelego_ray.storage import default_cache_root

logger = logging.getLogger(__name__)

# PID 1 of every sandbox: bash reaps orphans that the watchdog or group kills leave behind.
_INIT = ["bash", "-c", "trap 'exit 0' TERM; while :; do sleep 86400 & wait $!; done"]


class DockerConfig(BaseModel):
    """Settings of the docker backend (all optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None  # default: DOCKER_HOST, else unix:///var/run/docker.sock
    cache_root: Path | None = None  # default: $SWELEGO_CACHE or ~/.cache/swelego
    read_only: bool = False  # read-only root + TESTBED volume: slow start on big repos
    tmpfs_mb: int = 1024  # size of the /tmp tmpfs (counts against the memory limit)
    kill_grace_s: float = 5.0  # host watchdog waits this long past a command's deadline
    api_timeout_s: float = 120.0
    seccomp_profile: Path | None = None
    """The seccomp profile (JSON) sandboxes start from, with fallocate denied on top (see
    _docker_engine.seccomp_security_opt). Default: the engine's own (podman reports its
    file); required for Docker, whose built-in default its API does not give out."""
    keep_start_states: bool = True
    """Keep task start states as images (start_prepared). Pays off when a task's sandbox
    starts more than once (rollouts, reruns, validation); a commit costs ~0.25 s for a small
    change and seconds for large ones, so one-shot evaluations of big repos may turn it off."""


class DockerBackend:
    """Containers of built environment images (swelego_ray.envs.get_backend("docker") adds
    the image builder and makes it a SandboxBackend)."""

    name = "docker"

    def __init__(self, config: DockerConfig | None = None, **overrides: object) -> None:
        # keywords may come as JSON (CLI backend options): validate them, nested dicts too
        base = (config or DockerConfig()).model_dump()
        self.config = DockerConfig.model_validate({**base, **overrides})
        self.client = engine.connect(self.config.base_url, self.config.api_timeout_s)
        self.cache_root = self.config.cache_root or default_cache_root()
        engine.sweep_stale(self.client)
        self._security_opt = engine.seccomp_security_opt(
            self.client,
            self.config.base_url,
            self.config.seccomp_profile,
            self.cache_root / "docker" / "seccomp",
        )
        self._ids: dict[str, str] = {}  # env image tag -> image id
        self._kept: dict[str, tuple[str, str]] = {}  # state image id -> (diff base, note)
        self._has_tools: set[str] = set()  # images whose containers have HARNESS_TOOLS

    def start(
        self, built: BuiltEnv, limits: Limits | None = None, *, commit: str | None = None
    ) -> DockerSandbox:
        """A fresh container of the built image; with `commit` (another commit of the same
        repository, e.g. a task's base commit) TESTBED holds a clean checkout of it."""
        tag = _image(built)
        # diff against the commit after set-up (set-up edits are committed in the image)
        sandbox = self._launch(tag, built, limits, f"$(cat {HEAD_FILE})")
        if commit and commit not in (built.commit, self._checked_out(tag)):
            try:
                sandbox.replace_testbed(built.checkout(commit))
            except BaseException:
                sandbox.close()
                raise
        return sandbox

    def start_prepared(
        self, built: BuiltEnv, state: StartState, limits: Limits | None = None
    ) -> tuple[DockerSandbox, str]:
        """A sandbox in `state` and its note: the first call per (env image, state.key)
        starts one on state.commit, runs `state.prepare` and commits the container as an
        image (see _docker_states); later calls start containers of that image. Racing
        first callers each prepare their own; one of the commits is kept.

        With `read_only=True` TESTBED is an anonymous volume, which a commit does not
        capture: then, as with `keep_start_states=False`, `prepare` runs on every call."""
        state_tag = None
        if self.config.keep_start_states and not self.config.read_only:
            state_tag = states.state_tag(self.image_id(built), state.key)
            image = states.image_id(self.client, state_tag)
            if image is not None:
                return self._start_kept(image, state_tag, built, limits)
        sandbox = self.start(built, limits, commit=state.commit)
        try:
            note = state.prepare(sandbox)
            if not isinstance(note, str):
                raise TypeError(f"StartState {state.key!r}: prepare returned {note!r}, not a str")
            if state_tag is not None:
                locks = self.cache_root / "docker" / "locks"
                kept = states.keep(
                    sandbox.container, state_tag, locks, state.key, sandbox.base, note
                )
                if kept is not None:
                    self._kept[kept] = (sandbox.base, note)
        except BaseException:
            sandbox.close()
            raise
        return sandbox, note

    def _start_kept(
        self, image: str, tag: str, built: BuiltEnv, limits: Limits | None
    ) -> tuple[DockerSandbox, str]:
        """A container of the kept state `image` (`tag`) and its note."""
        sandbox = self._launch(image, built, limits, "HEAD")
        try:
            if image not in self._kept:  # read once per process (an archive call, ~0.1 s)
                self._kept[image] = states.read_state(sandbox.container, tag)
        except BaseException:
            sandbox.close()
            raise
        sandbox.base, note = self._kept[image]
        return sandbox, note

    def image_id(self, built: BuiltEnv) -> str:
        """The id of the built environment's image (start-state tags are made from it)."""
        tag = _image(built)
        if tag not in self._ids:
            self._ids[tag] = self.client.images.get(tag).id
        return self._ids[tag]

    def _launch(
        self, image: str, built: BuiltEnv, limits: Limits | None, base: str
    ) -> DockerSandbox:
        """A running container of `image` (the built image or a kept state of it)."""
        import docker

        limits = limits or Limits()
        cfg = self.config
        options: dict = {
            "mem_limit": f"{limits.memory_mb}m",
            "memswap_limit": f"{limits.memory_mb}m",
            "pids_limit": limits.pids,
            "nano_cpus": int(limits.cpus * 1e9),
            "environment": dict(built.env_vars),
            "labels": engine.owner_labels() | {engine.LABEL_KEY: built.key},
            "working_dir": TESTBED,
            "security_opt": self._security_opt,  # seccomp: no fallocate (see __init__)
        }
        if not limits.network:
            options["network_mode"] = "none"
        else:
            logger.warning("sandbox for %s runs WITH a network (limits.network=True)", built.key)
        if cfg.read_only:
            tmp = f"size={cfg.tmpfs_mb}m,mode=1777"
            # an anonymous volume (Mount, not a bind string, for Docker and podman alike)
            testbed = docker.types.Mount(target=TESTBED, source=None, type="volume")
            options |= {"read_only": True, "mounts": [testbed]}
            options["tmpfs"] = {"/tmp": tmp, "/var/tmp": tmp, "/run": "size=64m"}
        try:
            container = self.client.containers.run(image, _INIT, detach=True, **options)
        except docker.errors.DockerException as exc:
            raise SandboxError(f"cannot start a container of {image} ({built.key}): {exc}") from exc
        engine.track(container.id, self.client)
        try:
            disk = _disk_guard(self.client, container, limits.disk_mb)
        except Exception:
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
            raise
        sandbox = DockerSandbox(self.client, container, limits, base, cfg.kill_grace_s, disk)
        if image not in self._has_tools:  # once per image (env image or kept state)
            try:
                _check_tools(container, image)
            except BaseException:
                sandbox.close()
                raise
            self._has_tools.add(image)
        return sandbox

    def _checked_out(self, tag: str) -> str | None:
        return self.client.images.get(tag).labels.get(LABEL_HEAD)


def _image(built: BuiltEnv) -> str:
    """The image tag of a built environment (refused if it was built for another backend)."""
    if built.image is None:
        raise SandboxError(f"environment {built.key} was not built for the docker backend")
    return built.image


def _check_tools(container: Any, image: str) -> None:
    """SandboxError naming each of HARNESS_TOOLS the container lacks (never a silent
    fallback: the patch chain, the exec wrapper and diffs need them all)."""
    import docker

    try:
        code, out = container.exec_run(["sh", "-c", MISSING_TOOLS_SHELL])
    except docker.errors.DockerException as exc:
        raise SandboxError(f"cannot check the tools of image {image}: {exc}") from exc
    missing = out.decode(errors="replace").split()
    if code != 0 or missing:
        raise SandboxError(missing_tools_message(missing or ["a POSIX sh"], image))


def _disk_guard(client: Any, container: Any, disk_mb: int) -> DiskGuard:
    """What a container has written, against `disk_mb`: its upper layer (and, read-only,
    its TESTBED volume) walked from the host when the engine runs here (podman, or a
    local Docker), else the engine's own count (`SizeRw`: the upper layer only, slower
    to ask, checked every 2 s). What the container holds at start is the baseline."""
    container.reload()
    attrs = container.attrs
    upper = (attrs.get("GraphDriver") or {}).get("Data", {}).get("UpperDir")
    volumes = [m.get("Source") for m in attrs.get("Mounts") or [] if m.get("Type") == "volume"]
    roots = [Path(p) for p in (upper, *volumes) if p]
    if upper and all(r.is_dir() and os.access(r, os.R_OK | os.X_OK) for r in roots):
        guard = DiskGuard(roots, disk_mb)
    else:
        guard = DiskGuard([], disk_mb, interval_s=2.0, measure=lambda: _size_rw(client, container))
    guard.rebaseline()
    return guard


def _size_rw(client: Any, container: Any) -> int:
    """The engine's count of the bytes in a container's writable layer (0 when the engine
    does not answer: a failing count never fails the command)."""
    api = client.api
    url = api._url("/containers/{0}/json", container.id)
    try:
        return int(api._result(api._get(url, params={"size": 1}), True).get("SizeRw") or 0)
    except Exception as exc:
        logger.warning("cannot read the size of container %s: %s", container.short_id, exc)
        return 0


class DockerSandbox:
    """One running container (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        container: Any,
        limits: Limits,
        base: str,
        grace_s: float,
        disk: DiskGuard,
    ) -> None:
        self.client, self.container, self.limits = client, container, limits
        self.base, self.grace_s, self.disk = base, grace_s, disk
        self._lock = threading.Lock()
        self._closed = False
        self._session = SessionSlot(self._lock)

    # -- running commands -------------------------------------------------------------
    def exec(
        self,
        command: str,
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        timeout_s = timeout_s or self.limits.timeout_s
        return self._run(command, timeout_s, env, self.limits.output_bytes, stdin)

    def _run(
        self,
        command: str,
        timeout_s: float,
        env: dict[str, str] | None,
        output_bytes: int,
        stdin: bytes | None = None,
    ) -> ExecResult:
        import docker
        from docker.utils.socket import frames_iter

        argv, marker = wrapper_argv(
            command, timeout_s, stdin=stdin is not None, fsize_mb=self.limits.disk_mb
        )
        api = self.client.api
        with self._lock:
            self._check_usable()
            started = time.monotonic()
            try:
                exec_id = api.exec_create(
                    self.container.id,
                    argv,
                    stdin=stdin is not None,
                    workdir=TESTBED,
                    environment=env or None,
                )["Id"]
                sock = api.exec_start(exec_id, socket=True)
            except docker.errors.DockerException as exc:
                raise SandboxError(f"exec in {self.container.short_id} failed: {exc}") from exc
            api._disable_socket_timeout(sock)  # the watchdog, not the socket, ends long runs
            feeder = StdinFeeder(sock, stdin) if stdin is not None else None
            dog = Watchdog(timeout_s + self.grace_s, self.grace_s, self._overran, self._restart)
            disk = DiskWatchdog(self.disk, self._over_disk)
            try:
                frames = (data for _stream, data in frames_iter(sock, tty=False))
                cap, trailer = read_capped(frames, marker, output_bytes)
            except OSError as exc:
                cap, trailer = None, None
                if not dog.fired:
                    raise SandboxError(f"exec stream of {self.container.short_id}: {exc}") from exc
            finally:
                dog.stop()
                disk_hit = disk.stop()
                if feeder is not None:
                    feeder.stop()
                with contextlib.suppress(Exception):
                    sock.close()
            duration = time.monotonic() - started
        result = self._result(exec_id, cap, trailer, dog.fired, duration, timeout_s)
        if not disk_hit:
            return result
        note = self.disk.note(killed=disk.fired)
        return result.model_copy(
            update={"disk_limit": True, "oom": False, "output": result.output + note}
        )

    def _result(
        self,
        exec_id: str,
        cap: OutputCap | None,
        trailer: Trailer | None,
        fired: bool,
        duration: float,
        timeout_s: float,
    ) -> ExecResult:
        """The ExecResult of an exec, from its trailer (or without one)."""
        if trailer is None or cap is None:
            return self._without_trailer(exec_id, cap, fired, duration)
        timed_out = fired or (trailer.exit_code == 137 and duration >= timeout_s - 0.05)
        oom = (
            trailer.exit_code == 137
            and not timed_out
            and bool(
                trailer.oom_killed if trailer.oom_killed is not None else self._oom_killed_flag()
            )
        )
        return ExecResult(
            exit_code=trailer.exit_code,
            output=cap.text(),
            timed_out=timed_out,
            oom=oom,
            truncated=cap.truncated,
            duration_s=round(duration, 4),
        )

    def _without_trailer(
        self, exec_id: str, cap: OutputCap | None, fired: bool, duration: float
    ) -> ExecResult:
        """The wrapper was killed (watchdog) or the container died under it."""
        self.container.reload()
        if not fired and self.container.status != "running":
            state = self.container.attrs.get("State", {})
            raise SandboxError(f"container {self.container.short_id} died: {state}")
        code = self.client.api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(
            exit_code=137 if fired or code is None else code,
            output=cap.text() if cap else "",
            timed_out=fired,
            truncated=bool(cap and cap.truncated),
            duration_s=round(duration, 4),
        )

    def _oom_killed_flag(self) -> bool:
        self.container.reload()
        return bool(self.container.attrs.get("State", {}).get("OOMKilled"))

    def _kill_all(self) -> None:
        """SIGKILL every process but PID 1 (bash's builtin: slim images have no procps)."""
        with contextlib.suppress(Exception):
            self.container.exec_run(["bash", "-c", "kill -KILL -1"])

    def _over_disk(self) -> None:
        logger.warning("sandbox %s: disk limit reached; killing", self.container.short_id)
        self._kill_all()

    def _overran(self) -> None:
        logger.warning("sandbox %s: exec overran its deadline; killing", self.container.short_id)
        self._kill_all()

    def _restart(self) -> None:
        logger.warning("sandbox %s: still stuck; restarting the container", self.container.short_id)
        with contextlib.suppress(Exception):
            self.container.restart(timeout=0)

    def _check(self, command: str, what: str, output_bytes: int = 1 << 30) -> ExecResult:
        result = self._run(command, 120.0, None, output_bytes)
        if result.exit_code != 0:
            raise SandboxError(f"{what} failed: {result.output.strip()[-2000:]}")
        return result

    # -- the shell session -------------------------------------------------------------
    def session(self, *, idle_s: float = 30.0) -> ShellSession:
        """A persistent shell in this container (sandbox._session): two `docker exec`
        shells, the container's limits and no network. While it is open, `exec` and the
        file methods refuse (each exec ends by killing every process but PID 1, the
        session's included); `close()` ends it and kills everything it started."""
        return self._session.open(
            self._spawn_shell, self.limits, disk=self.disk, idle_s=idle_s, check=self._check_usable
        )

    def _spawn_shell(self) -> ShellProcess:
        fsize = self.limits.disk_mb * 1024  # bash's ulimit -f counts KiB
        main = f"ulimit -f {fsize} || exit 126; exec bash --norc --noprofile --noediting -i"
        aux = f"ulimit -f {fsize} || exit 126; exec bash --norc --noprofile"
        channels: list[FdChannel] = []
        try:
            for script in (main, aux):
                channels.append(self._exec_channel(["bash", "-c", script]))
        except BaseException:
            for channel in channels:
                channel.close()
            raise
        return ShellProcess(channels[0], channels[1], self._kill_all, self._oom_kills)

    def _exec_channel(self, argv: list[str]) -> FdChannel:
        """A `docker exec` of `argv` with its stdin and (demultiplexed) output attached."""
        import docker

        api = self.client.api
        try:
            exec_id = api.exec_create(self.container.id, argv, stdin=True, workdir=TESTBED)["Id"]
            sock = api.exec_start(exec_id, socket=True)
        except docker.errors.DockerException as exc:
            raise SandboxError(f"cannot start a shell in {self.container.short_id}: {exc}") from exc
        api._disable_socket_timeout(sock)
        raw = getattr(sock, "_sock", sock)
        return FdChannel(raw.fileno(), raw.sendall, [sock.close], demux=FrameDemux())

    def _oom_kills(self) -> int:
        """The container's cgroup OOM-kill counter (0 when it cannot be read)."""
        script = (
            "sed -n 's/^oom_kill //p' /sys/fs/cgroup/memory.events "
            "/sys/fs/cgroup/memory/memory.oom_control 2>/dev/null | head -n1"
        )
        with contextlib.suppress(Exception):
            _code, out = self.container.exec_run(["sh", "-c", script])
            return int(out.decode().strip() or 0)
        return 0

    def _check_usable(self) -> None:
        """SandboxError when closed, or while a shell session runs in the container."""
        if self._closed:
            raise SandboxError(f"sandbox {self.container.short_id} is closed")
        if self._session.busy:
            raise SandboxError(
                f"sandbox {self.container.short_id} has an open shell session: run commands "
                "in it, or close it first"
            )

    # -- files and diffs --------------------------------------------------------------
    def read_file(self, path: str) -> str:
        result = self._run(f"cat -- {shlex.quote(path)}", 60.0, None, 1 << 30)
        if result.exit_code != 0:
            if "No such file" in result.output:
                raise FileNotFoundError(f"{path}: no such file in the sandbox")
            raise OSError(f"cannot read {path}: {result.output.strip()}")
        return result.output

    def write_file(self, path: str, content: str) -> None:
        full = posixpath.join(TESTBED, path)
        folder, name = posixpath.split(full)
        probe = f"mkdir -p -- {shlex.quote(folder)} && "
        probe += f"(stat -c %a -- {shlex.quote(full)} 2>/dev/null || echo 644)"
        result = self._run(probe, 60.0, None, 4096)
        if result.exit_code != 0:
            raise PermissionError(f"cannot write {path}: {result.output.strip()}")
        data = content.encode()
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), int(result.output.split()[-1], 8), time.time()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))
        try:
            ok = self.container.put_archive(folder, buf.getvalue())
        except Exception as exc:
            raise PermissionError(f"cannot write {path}: {exc}") from exc
        if not ok:
            raise PermissionError(f"cannot write {path}: the engine refused the archive")

    def replace_testbed(self, checkout: Path) -> None:
        """Swap TESTBED's contents for `checkout` (a clean checkout) and diff against it."""
        self._check(f"find {TESTBED} -mindepth 1 -delete", "emptying the testbed")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(checkout, arcname=".")
        if not self.container.put_archive(TESTBED, buf.getvalue()):
            raise SandboxError(f"copying {checkout} into the sandbox failed")
        self.base = checkout.name if len(checkout.name) == 40 else "HEAD"
        self.disk.rebaseline()  # the checkout is set-up, not the sandbox's writes

    def diff(self, base: str | None = None) -> str:
        """Changes since the start commit (or `base`), staged with `git add -A`, binary
        files dropped."""
        return drop_binary(self._check(diff_command(base or self.base), "git diff").output)

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        import docker

        self._session.close()
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True, v=True)
        engine.untrack(self.container.id)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
