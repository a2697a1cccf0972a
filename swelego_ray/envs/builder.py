"""Build one cached environment (testbed + virtualenv) per Environment.key.

The build runs in bubblewrap with the network on (PyPI) and the two fixed in-sandbox paths
bound writable: the environment's own copy of the checkout at TESTBED and its venv at VENV,
so editable installs and script shebangs point where every sandbox will see them. Layout:

    CACHE/envs/<key>/testbed   the checkout after install (the lower layer of sandboxes)
    CACHE/envs/<key>/venv      the virtualenv, mounted read-only into sandboxes
    CACHE/envs/<key>/build.log every step's command and output
    CACHE/envs/<key>/READY     written last; an entry without it is rebuilt
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from swelego_ray.envs._spec import EnvBuildError, Environment
from swelego_ray.envs.interpreters import find_interpreter
from swelego_ray.envs.repos import cached_checkout, default_cache_root, file_lock
from swelego_ray.envs.resolution import (
    YANK_RETRIES,
    add_pins,
    pip_install_spans,
    uv_bin,
    uv_resolution_args,
    yanked_pins,
)
from swelego_ray.sandbox._bwrap import SANDBOX_PATH, Mount, bwrap_argv
from swelego_ray.sandbox._exec import run_limited
from swelego_ray.sandbox._protocol import TESTBED, VENV, ExecResult

logger = logging.getLogger(__name__)

_SEED_PACKAGES = "'setuptools<81' wheel"

# Host settings a build needs to reach the package index (proxies, CA bundles, indexes).
_PASSTHROUGH = re.compile(
    r"^(PIP_\w+|UV_\w+|(HTTPS?|NO|ALL)_PROXY|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$",
    re.IGNORECASE,
)
_UV_UNSUPPORTED = ("--no-use-pep517", "--use-pep517", "--global-option", "--install-option")
# Yanked versions accepted under a cutoff (envs/resolution.py), as constraints every later
# uv and pip step of the build sees; in the build's /tmp.
_YANKED_CONSTRAINTS = "swelego-yanked-constraints.txt"


class BuiltEnv(BaseModel):
    """Where a built environment lives, and the commit its testbed is at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    root: Path
    commit: str = ""  # env.commit, resolved to a full sha
    head: str  # HEAD of the built testbed (that commit, or a setup commit on top of it)
    build_s: float = 0.0

    @property
    def testbed(self) -> Path:
        return self.root / "testbed"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def log(self) -> Path:
        return self.root / "build.log"


def default_package_cache() -> Path:
    """$XDG_CACHE_HOME or ~/.cache: uv and pip keep their downloads in uv/ and pip/ there."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


class EnvBuilder:
    """Builds environments into a cache root; `ensure` is idempotent and process-safe."""

    def __init__(
        self,
        cache_root: Path | None = None,
        *,
        step_timeout_s: float = 1800.0,
        package_cache: Path | None = None,
    ) -> None:
        self.cache_root = Path(cache_root) if cache_root else default_cache_root()
        self.step_timeout_s = step_timeout_s
        # Downloads are shared with the host's uv/pip caches (warm, and never read by tests).
        self.package_cache = Path(package_cache) if package_cache else default_package_cache()

    def entry(self, env: Environment) -> Path:
        return self.cache_root / "envs" / env.key

    def cached(self, env: Environment) -> BuiltEnv | None:
        marker = self.entry(env) / "READY"
        if not marker.is_file():
            return None
        return BuiltEnv.model_validate_json(marker.read_text())

    def ensure(self, env: Environment) -> BuiltEnv:
        """The built environment, building it first if no complete build is cached."""
        built = self.cached(env)
        if built is not None:
            return built
        with file_lock(self.cache_root / "envs" / f".{env.key}.lock"):
            built = self.cached(env)
            if built is not None:
                return built
            return self._build(env)

    def _build(self, env: Environment) -> BuiltEnv:
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
            built = BuiltEnv(
                key=env.key,
                root=final,
                commit=checkout.name,
                head=head,
                build_s=round(time.monotonic() - started, 2),
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
        uv = shlex.quote(uv_bin())
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
        for attempt in range(YANK_RETRIES + 1):
            result = self._run(env, work, command)
            log.write(f"\n## {name}: {command}\n{result.output}\n# exit {result.exit_code}\n")
            if result.exit_code == 0:
                return
            if not env.spec.exclude_newer or attempt == YANK_RETRIES:
                break
            added = add_pins(work / "tmp" / _YANKED_CONSTRAINTS, yanked_pins(result.output))
            if not added:
                break
            pins = " ".join(f"{n}=={v}" for n, v in added.items())
            log.write(f"# yanked now, uploaded before {env.spec.exclude_newer}: accepting {pins}\n")
        if fallback is not None:
            result = self._run(env, work, fallback)
            log.write(f"\n## {name} (fallback): {fallback}\n{result.output}\n")
            log.write(f"# exit {result.exit_code}\n")
            if result.exit_code == 0:
                return
        log.flush()
        kept = self.cache_root / "envs" / f"{env.key}.failed.log"
        shutil.copyfile(work / "build.log", kept)
        why = "timed out" if result.timed_out else f"exit {result.exit_code}"
        raise EnvBuildError(
            f"{env.repo}@{env.commit[:12]} (python {env.spec.python}): step {name} failed "
            f"({why}): {command}\nlog: {kept}\n{result.output[-3000:]}"
        )

    def _run(self, env: Environment, work: Path, command: str) -> ExecResult:
        host_env = {k: v for k, v in os.environ.items() if _PASSTHROUGH.match(k)}
        caches = [self.package_cache / "uv", self.package_cache / "pip"]
        for cache in caches:
            cache.mkdir(parents=True, exist_ok=True)
        build_env = {
            **host_env,
            "PATH": SANDBOX_PATH,
            "VIRTUAL_ENV": VENV,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "UV_CACHE_DIR": str(caches[0]),
            "PIP_CACHE_DIR": str(caches[1]),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_LINK_MODE": "copy",
            **env.spec.env_vars,
        }
        if (work / "tmp" / _YANKED_CONSTRAINTS).exists():
            in_sandbox = f"/tmp/{_YANKED_CONSTRAINTS}"
            build_env |= {"UV_CONSTRAINT": in_sandbox, "PIP_CONSTRAINT": in_sandbox}
        mounts = [
            Mount(work / "testbed", TESTBED, writable=True),
            Mount(work / "venv", VENV, writable=True),
            *(Mount(cache, str(cache), writable=True) for cache in caches),
        ]
        argv = [*bwrap_argv(mounts, network=True, tmp=work / "tmp"), "bash", "-c", command]
        return run_limited(
            argv, env=build_env, timeout_s=self.step_timeout_s, output_bytes=2_000_000
        )

    @staticmethod
    def _settle_testbed(testbed: Path) -> str:
        """Commit tracked edits made by the build (as SWE-bench does) and hide its untracked
        artifacts (egg-info, build/) from git, so a fresh sandbox has an empty diff."""

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-c", "core.hooksPath=/dev/null", *args],
                cwd=testbed,
                check=True,
                capture_output=True,
                text=True,
            ).stdout

        if git("status", "--porcelain", "--untracked-files=no").strip():
            git("commit", "-q", "-a", "-m", "swelego: environment setup")
        untracked = git("ls-files", "--others", "--exclude-standard", "--directory").splitlines()
        if untracked:
            exclude = testbed / ".git" / "info" / "exclude"
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with open(exclude, "a") as handle:
                handle.write("# build artifacts of the environment\n")
                handle.writelines(f"/{path}\n" for path in untracked)
        return git("rev-parse", "HEAD").strip()


def _with_uv(command: str, uv_install: str) -> str | None:
    """`command` with each `python -m pip install` replaced by `uv_install`; None when it
    has none or uses flags uv does not take."""
    spans = pip_install_spans(command)
    if not spans or any(flag in command for flag in _UV_UNSUPPORTED):
        return None
    for start, end, _ in reversed(spans):
        command = command[:start] + uv_install + command[end:]
    return command
