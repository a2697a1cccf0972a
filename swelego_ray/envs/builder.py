"""Build one cached environment (testbed + virtualenv) per Environment.key.

The build runs in bubblewrap on the package-index network (a user-mode network stack that
reaches PyPI but no service of the host, see sandbox._bwrap) with the allow-listed root
every sandbox has, the interpreter's prefix and uv (at UV_IN_SANDBOX) read-only, and the
two fixed in-sandbox paths bound writable: the environment's own copy of the checkout at
TESTBED and its venv at VENV, so editable installs and script shebangs point where every
sandbox will see them. uv and pip caches live in the build's own /tmp (removed with it):
one build cannot change what another installs. Layout:

    CACHE/envs/<key>/testbed   the checkout after install (the lower layer of sandboxes)
    CACHE/envs/<key>/venv      the virtualenv, mounted read-only into sandboxes
    CACHE/envs/<key>/build.log every step's command and output
    CACHE/envs/<key>/READY     written last; an entry without it is rebuilt
"""

from __future__ import annotations

import io
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.envs._spec import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs.failures import (
    EnvStepFailed,
    forget_failures,
    record_failure,
    refuse_recorded,
)
from swelego_ray.envs.interpreters import find_interpreter, interpreter_prefixes
from swelego_ray.envs.repos import cached_checkout, default_cache_root, file_lock
from swelego_ray.envs.resolution import (
    WHEEL_RETRIES,
    YANK_RETRIES,
    add_pins,
    build_constraints,
    exact_pins,
    failed_builds,
    oldest_wheel_command,
    pinned_version,
    pip_install_spans,
    uv_bin,
    uv_resolution_args,
    yanked_pins,
)
from swelego_ray.envs.system_libs import missing_system_hint as _system_hint
from swelego_ray.gitsafe import (
    GitError,
    UnsafeRepository,
    append_excludes,
    git_output,
    reset_repo_config,
)
from swelego_ray.sandbox import TESTBED, VENV, ExecResult, SandboxError
from swelego_ray.sandbox.isolation import (
    NETWORK_FAILED,
    SANDBOX_PATH,
    Mount,
    SandboxToolMissing,
    bwrap_argv,
    prefix_mounts,
    run_limited,
)

logger = logging.getLogger(__name__)

_SEED_PACKAGES = "'setuptools<81' wheel"
UV_IN_SANDBOX = "/opt/swelego/bin/uv"  # the host's uv binary, bound read-only here
# Per-build package caches, in the build's own /tmp (work/tmp, removed with the build).
_CACHE_DIR = "/tmp/.cache"
# Host settings naming a package index or a proxy: a loopback port among them is relayed
# into the build (that port only; the host's other loopback services stay unreachable).
_INDEX_VARS = re.compile(
    r"^((PIP|UV)_(INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS)|UV_(INDEX|DEFAULT_INDEX)|"
    r"(HTTPS?|ALL)_PROXY)$",
    re.IGNORECASE,
)

# Host settings a build needs to reach the package index (proxies, CA bundles, indexes).
_PASSTHROUGH = re.compile(
    r"^(PIP_\w+|UV_\w+|(HTTPS?|NO|ALL)_PROXY|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$",
    re.IGNORECASE,
)
_UV_UNSUPPORTED = ("--no-use-pep517", "--use-pep517", "--global-option", "--install-option")
# Yanked versions accepted under a cutoff and the oldest releases with wheels taken instead
# of unbuildable ones (envs/resolution.py), as constraints every later uv and pip step of
# the build sees; in the build's /tmp, with the packages exempted from the cutoff since
# and the notes of each relaxation (VenvBuild.relaxed).
_YANKED_CONSTRAINTS = "swelego-yanked-constraints.txt"
_EXEMPT = "swelego-cutoff-exempt.txt"
_BUILD_CONSTRAINTS = "swelego-build-constraints.txt"  # of isolated builds (uv)
_RELAXED = "swelego-relaxed.txt"


class VenvBuild(BaseModel):
    """Where a built environment lives, and the commit its testbed is at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    root: Path
    commit: str = ""  # env.commit, resolved to a full sha
    head: str  # HEAD of the built testbed (that commit, or a setup commit on top of it)
    build_s: float = 0.0
    relaxed: list[str] = Field(default_factory=list)
    """Where the build departed from the resolution rule, and why (envs/resolution.py)."""

    @property
    def testbed(self) -> Path:
        return self.root / "testbed"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def log(self) -> Path:
        return self.root / "build.log"


class EnvBuilder:
    """Builds environments into a cache root; `ensure` is idempotent and process-safe."""

    def __init__(
        self,
        cache_root: Path | None = None,
        *,
        step_timeout_s: float = 1800.0,
        retry_failed_builds: bool = False,
        retry_failed_before: float | None = None,
    ) -> None:
        self.cache_root = Path(cache_root) if cache_root else default_cache_root()
        self.step_timeout_s = step_timeout_s
        self.retry_failed_builds = retry_failed_builds
        # retried: failures recorded before this (envs.failures)
        self.retry_failed_before = retry_failed_before or time.time()

    def entry(self, env: Environment) -> Path:
        return self.cache_root / "envs" / env.key

    def cached(self, env: Environment) -> VenvBuild | None:
        marker = self.entry(env) / "READY"
        if not marker.is_file():
            return None
        return VenvBuild.model_validate_json(marker.read_text())

    def ensure(self, env: Environment) -> VenvBuild:
        """The built environment, building it first if no complete build is cached. A
        build that failed before is refused with its recorded error unless
        `retry_failed_builds` (envs.failures)."""
        built = self.cached(env)
        if built is not None:
            return built
        retry_before = self.retry_failed_before if self.retry_failed_builds else None
        refuse_recorded(self.cache_root, "local", env, retry_before=retry_before)
        with file_lock(self.cache_root / "envs" / f".{env.key}.lock"):
            built = self.cached(env)
            if built is not None:
                return built
            # another process (or this run's retry) may have failed meanwhile
            refuse_recorded(self.cache_root, "local", env, retry_before=retry_before)
            try:
                built = self._build(env)
            except EnvStepFailed as exc:
                record_failure(self.cache_root, env, "local", exc)
                raise
            forget_failures(self.cache_root, [env.key], ("local",))
            return built

    def _build(self, env: Environment) -> VenvBuild:
        started = time.monotonic()
        final = self.entry(env)
        if final.exists():  # a crashed or interrupted build: no READY marker
            shutil.rmtree(final)
        for stale in final.parent.glob(f".build-{env.key}-*"):  # we hold the key's lock
            shutil.rmtree(stale, ignore_errors=True)
        checkout = cached_checkout(env.repo, env.source, env.commit, self.cache_root)
        interpreter = find_interpreter(env.spec.python)
        work = Path(tempfile.mkdtemp(prefix=f".build-{env.key}-", dir=final.parent))
        try:
            (work / "venv").mkdir()
            (work / "tmp").mkdir()
            copy = subprocess.run(
                ["cp", "-a", "--reflink=auto", f"{checkout}/.", str(work / "testbed")],
                capture_output=True,
                text=True,
            )
            if copy.returncode != 0:
                raise EnvBuildError(f"{env.key}: copying the checkout failed: {copy.stderr}")
            with open(work / "build.log", "w") as log:
                log.write(f"# environment {env.model_dump_json()}\n")
                for name, command, fallback in self._steps(env, interpreter):
                    self._step(env, work, log, name, command, fallback)
                head = self._settle_testbed(work / "testbed")
            built = VenvBuild(
                key=env.key,
                root=final,
                commit=checkout.name,
                head=head,
                build_s=round(time.monotonic() - started, 2),
                relaxed=_read_lines(work / "tmp" / _RELAXED),
            )
            (work / "env.json").write_text(env.model_dump_json(indent=2))
            (work / "READY").write_text(built.model_dump_json())
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        logger.info("built environment %s in %.1fs", env.key, built.build_s)
        return built

    def _steps(self, env: Environment, interpreter: Path) -> list[tuple[str, str, str | None]]:
        """(name, command, pip fallback or None) in build order. Every `python -m pip
        install` of a step runs as `uv pip install` with the spec's resolution flags; the
        step as written is its fallback (and runs alone when it uses pip-only flags)."""
        uv_bin()  # EnvBuildError naming uv now, before any step, when it is missing
        uv = UV_IN_SANDBOX
        py = f"{VENV}/bin/python"
        resolution = shlex.join(uv_resolution_args(env.spec))
        uv_install = f"{uv} pip install --python {py}" + (f" {resolution}" if resolution else "")
        steps: list[tuple[str, str, str | None]] = [
            (
                "venv",
                f"{uv} venv --quiet --allow-existing --seed --python {interpreter} {VENV}",
                f"{interpreter} -m venv {VENV} && {py} -m ensurepip --upgrade",
            ),
            (  # what `python -m venv` (< 3.12) and SWE-bench's conda envs have; test suites
                # import pkg_resources (removed from setuptools 81)
                "seed",
                f"{uv} pip install --python {py} {_SEED_PACKAGES}",
                f"{py} -m pip install {_SEED_PACKAGES}",
            ),
        ]
        if env.spec.packages:
            packages = shlex.join(env.spec.packages)
            steps.append(
                (
                    "packages",
                    f"{uv_install} {packages}",
                    f"python -m pip install {packages}",
                )
            )
        for field in ("pre_install", "install"):
            for i, command in enumerate(getattr(env.spec, field)):
                fast = _with_uv(command, uv_install)
                steps.append((f"{field}[{i}]", fast or command, command if fast else None))
        # Sandboxes mount the venv read-only: without bytecode every test run recompiles
        # its imports (pytest alone: 0.52 s -> 0.22 s to import, measured). Files that do
        # not compile (bad-syntax test fixtures in some packages) are left as they are.
        steps.append(("compile", f"{py} -m compileall -q -j 0 {VENV} >/dev/null || true", None))
        return steps

    def _step(
        self, env: Environment, work: Path, log, name: str, command: str, fallback: str | None
    ) -> None:
        logger.info("building %s: %s", env.key, name)
        yank_rounds = wheel_rounds = 0
        outputs: list[str] = []  # of every attempt, for the system-package hint
        while True:
            run = _relaxed(command, env.spec, _read_lines(work / "tmp" / _EXEMPT))
            result = self._run(env, work, run)
            outputs.append(result.output)
            log.write(f"\n## {name}: {run}\n{result.output}\n# exit {result.exit_code}\n")
            if result.exit_code == 0:
                return
            if _uv_did_not_run(result):  # not a resolution failure: never fall back to pip
                kept = self._keep_log(env, work, log)
                raise EnvBuildError(
                    f"{env.repo}@{env.commit[:12]}: step {name}: uv ({uv_bin()}, bound at "
                    f"{UV_IN_SANDBOX}) could not run in the build sandbox (exit "
                    f"{result.exit_code}); log: {kept}\n{result.output[-2000:]}"
                )
            if not env.spec.exclude_newer or UV_IN_SANDBOX not in command:
                break  # nothing to relax
            if yank_rounds < YANK_RETRIES and self._accept_yanked(env, work, log, result):
                yank_rounds += 1
                continue
            if wheel_rounds < WHEEL_RETRIES and self._oldest_wheels(env, work, log, result):
                wheel_rounds += 1
                continue
            break
        if fallback is not None:
            note = (
                f"step {name}: uv failed under the cutoff {env.spec.exclude_newer}; the step "
                "runs as written (pip, resolved against today's index)"
                if env.spec.exclude_newer
                else ""
            )
            if note:
                self._relax(env, work, log, note)
            result = self._run(env, work, fallback)
            outputs.append(result.output)
            log.write(f"\n## {name} (fallback): {fallback}\n{result.output}\n")
            log.write(f"# exit {result.exit_code}\n")
            if result.exit_code == 0:
                return
        kept = self._keep_log(env, work, log)
        why = "timed out" if result.timed_out else f"exit {result.exit_code}"
        hint = _system_hint("\n".join(outputs))
        message = (
            f"{env.repo}@{env.commit[:12]} (python {env.spec.python}): step {name} failed "
            f"({why}): {command}\nlog: {kept}\n{hint}{result.output[-3000:]}"
        )
        if result.timed_out:  # may pass on a less loaded machine: not recorded
            raise EnvBuildError(message)
        raise EnvStepFailed(message, log=kept)

    def _accept_yanked(self, env: Environment, work: Path, log, result: ExecResult) -> bool:
        """Pin the yanked versions uploaded before the cutoff that `result` names."""
        added = add_pins(work / "tmp" / _YANKED_CONSTRAINTS, yanked_pins(result.output))
        if added:
            pins = " ".join(f"{n}=={v}" for n, v in added.items())
            log.write(f"# yanked now, uploaded before {env.spec.exclude_newer}: accepting {pins}\n")
        return bool(added)

    def _oldest_wheels(self, env: Environment, work: Path, log, result: ExecResult) -> bool:
        """For each package `result` could not build (its release before the cutoff has no
        wheel for the interpreter), pin the oldest release with one and exempt it from the
        cutoff; whether anything changed. Exact pins of the spec are never moved."""
        exempt = _read_lines(work / "tmp" / _EXEMPT)
        pinned = set(exact_pins(env.spec))
        changed = False
        for package, version in failed_builds(result.output).items():
            if package in pinned or package in exempt:
                continue
            query = oldest_wheel_command(
                UV_IN_SANDBOX, f"{VENV}/bin/python", env.spec, package, version
            )
            found = self._run(env, work, query)
            log.write(f"\n## oldest wheel: {query}\n{found.output}\n# exit {found.exit_code}\n")
            wheel = pinned_version(found.output, package) if found.exit_code == 0 else None
            if wheel is None:
                continue
            add_pins(work / "tmp" / _YANKED_CONSTRAINTS, {package: wheel})
            with open(work / "tmp" / _EXEMPT, "a") as handle:
                handle.write(package + "\n")
            self._relax(
                env,
                work,
                log,
                f"{package} {version} (newest before the cutoff {env.spec.exclude_newer}) did "
                f"not build for python {env.spec.python}: {package}=={wheel}, its oldest "
                "release with a wheel for it, is used (exempt from the cutoff)",
            )
            changed = True
        return changed

    def _relax(self, env: Environment, work: Path, log, note: str) -> None:
        """Record a departure from the resolution rule: build log, warning, and the
        environment's record (VenvBuild.relaxed)."""
        log.write(f"# RELAXED: {note}\n")
        logger.warning("environment %s: %s", env.key, note)
        with open(work / "tmp" / _RELAXED, "a") as handle:
            handle.write(note.replace("\n", " ") + "\n")

    def _keep_log(self, env: Environment, work: Path, log: io.TextIOBase) -> str:
        """Keep the failed build's log beside the cache entry; where it went, or why not
        (never an exception: the build's own error is the one to show)."""
        kept = self.cache_root / "envs" / f"{env.key}.failed.log"
        try:
            log.flush()
            kept.parent.mkdir(parents=True, exist_ok=True)
            if (work / "build.log").is_file():
                shutil.copyfile(work / "build.log", kept)
            elif isinstance(log, io.StringIO):
                kept.write_text(log.getvalue())
            else:
                return "(no build log was written)"
        except OSError as err:
            return f"(not kept: {err})"
        return str(kept)

    def _run(self, env: Environment, work: Path, command: str) -> ExecResult:
        host_env = {k: v for k, v in os.environ.items() if _PASSTHROUGH.match(k)}
        build_env = {
            **host_env,
            "PATH": SANDBOX_PATH,
            "VIRTUAL_ENV": VENV,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "XDG_CACHE_HOME": _CACHE_DIR,
            "UV_CACHE_DIR": f"{_CACHE_DIR}/uv",
            "PIP_CACHE_DIR": f"{_CACHE_DIR}/pip",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_LINK_MODE": "copy",
            **env.spec.env_vars,
        }
        if (work / "tmp" / _YANKED_CONSTRAINTS).exists():
            in_sandbox = f"/tmp/{_YANKED_CONSTRAINTS}"
            build_env |= {"UV_CONSTRAINT": in_sandbox, "PIP_CONSTRAINT": in_sandbox}
        if build_constraints(env.spec):
            (work / "tmp" / _BUILD_CONSTRAINTS).write_text(
                "\n".join(build_constraints(env.spec)) + "\n"
            )
            build_env["UV_BUILD_CONSTRAINT"] = f"/tmp/{_BUILD_CONSTRAINTS}"
        interpreter = find_interpreter(env.spec.python)
        mounts = [
            Mount(work / "testbed", TESTBED, writable=True),
            Mount(work / "venv", VENV, writable=True),
            Mount(Path(uv_bin()), UV_IN_SANDBOX),
            *prefix_mounts(interpreter_prefixes(interpreter)),
            *local_index_mounts(host_env),
        ]
        try:
            prefix = bwrap_argv(
                mounts, network=True, tmp=work / "tmp", forward_ports=loopback_ports(host_env)
            )
        except SandboxToolMissing as err:
            raise EnvBuildError(f"{env.repo}@{env.commit[:12]}: {err}") from err
        except SandboxError as err:
            raise EnvBuildError(f"{env.repo}@{env.commit[:12]}: build sandbox: {err}") from err
        result = run_limited(
            [*prefix, "bash", "-c", command],
            env=build_env,
            timeout_s=self.step_timeout_s,
            output_bytes=2_000_000,
        )
        if result.exit_code == 125 and result.output.startswith(NETWORK_FAILED):
            raise EnvBuildError(f"{env.repo}@{env.commit[:12]}: {result.output.strip()}")
        return result

    @staticmethod
    def _settle_testbed(testbed: Path) -> str:
        """Commit tracked edits made by the build (as SWE-bench does) and hide its untracked
        artifacts (egg-info, build/) from git, so a fresh sandbox has an empty diff.

        The build ran untrusted code with the testbed writable: before git runs here (on
        the host) its .git is checked and its config reset (gitsafe), and git runs with
        the safe options, so nothing the build wrote into .git runs on the host."""
        try:
            reset_repo_config(testbed)
            status = ("status", "--porcelain", "--untracked-files=no", "--ignore-submodules=all")
            if git_output(*status, cwd=testbed).strip():
                message = "swelego: environment setup"
                git_output("commit", "-q", "-a", "--no-verify", "-m", message, cwd=testbed)
            others = ("ls-files", "-z", "--others", "--exclude-standard", "--directory")
            untracked = git_output(*others, cwd=testbed).split("\0")
            if any(untracked):
                append_excludes(testbed, "build artifacts of the environment", untracked)
            return git_output("rev-parse", "HEAD", cwd=testbed).strip()
        except (UnsafeRepository, GitError, OSError) as exc:
            raise EnvStepFailed(
                f"the build left the testbed's git repository unusable, refused: {exc}"
            ) from exc


def _with_uv(command: str, uv_install: str) -> str | None:
    """`command` with each `python -m pip install` replaced by `uv_install`; None when it
    has none or uses flags uv does not take."""
    spans = pip_install_spans(command)
    if not spans or any(flag in command for flag in _UV_UNSUPPORTED):
        return None
    for start, end, _ in reversed(spans):
        command = command[:start] + uv_install + command[end:]
    return command


def _read_lines(path: Path) -> list[str]:
    """The non-empty lines of `path` ([] when it does not exist)."""
    if not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line.strip()]


def _relaxed(command: str, spec: EnvSpec, exempt: list[str]) -> str:
    """`command` with the packages relaxed so far exempt from the cutoff in each of its uv
    installs (they carry the spec's resolution flags verbatim)."""
    if not exempt or not spec.exclude_newer:
        return command
    rule = shlex.join(uv_resolution_args(spec))
    return command.replace(rule, shlex.join(uv_resolution_args(spec, tuple(exempt))))


def _uv_did_not_run(result: ExecResult) -> bool:
    """Whether a step failed because uv itself could not be executed (missing, not
    executable): exit 126/127 with the shell naming uv's in-sandbox path."""
    return result.exit_code in (126, 127) and f"{UV_IN_SANDBOX}:" in result.output


def _index_items(host_env: dict[str, str]) -> list[str]:
    """Every URL or path of the host's package index, find-links and proxy settings."""
    items: list[str] = []
    for key, value in host_env.items():
        if _INDEX_VARS.match(key):
            for item in value.replace(",", " ").split():
                items.append(item.partition("=")[2] if "=" in item.split("://")[0] else item)
    return items


def local_index_mounts(host_env: dict[str, str]) -> list[Mount]:
    """Read-only binds, at their own paths, of the local package indexes and wheel
    directories the host configured (`file://` URLs or absolute paths in PIP_*/UV_* index
    and find-links settings, e.g. an offline wheelhouse under /opt): host configuration,
    so trusted; the build's allow-listed root would otherwise hide them."""
    dirs: set[Path] = set()
    for item in _index_items(host_env):
        path = Path(urlsplit(item).path) if item.startswith("file://") else Path(item)
        if path.is_absolute() and path.exists():
            dirs.add(path.resolve())
    return [Mount(path, str(path)) for path in sorted(dirs)]


def loopback_ports(host_env: dict[str, str]) -> list[int]:
    """Loopback ports of the package indexes and proxies the host configured (PIP_*/UV_*
    index and find-links settings, *_PROXY): a build may reach those, and only those."""
    ports: set[int] = set()
    for item in _index_items(host_env):
        url = urlsplit(item)
        if url.hostname not in ("127.0.0.1", "localhost"):
            continue
        try:
            port = url.port or {"http": 80, "https": 443}.get(url.scheme)
        except ValueError:
            continue
        if port:
            ports.add(port)
    return sorted(ports)
