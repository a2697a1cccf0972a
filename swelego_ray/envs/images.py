"""Environment images for the docker backend: one image per Environment.key.

The image holds the repository at its commit in TESTBED and the spec's virtualenv at
VENV, made FROM a configurable base (`python:<version>-slim` where a registry is
reachable; a local debootstrap base otherwise). Its tag is a digest of everything that
shapes it (env key, base image id, recipe, options), so an existing tag means up to date
and a rebuild is skipped; labels carry the env key and spec digest for people.

Set-up steps (the venv with spec.packages, then the repository's pre_install/install)
run as containers committed as images (envs._setup_container), not as RUN steps of a
build: podman's build API ran RUN steps in the host's network namespace. The venv image
`swelego-venv:<digest>` is shared by every commit with the same base, Python and
packages. After the set-up, the testbed's .git is reset (gitsafe) and the image must
have HARNESS_TOOLS, or the build fails naming the missing ones.

Two options make it work on machines without a registry or PyPI inside builds:
`host_interpreters` copies this host's interpreter for spec.python into a cached layer
when the base lacks it; `wheelhouse` downloads wheels in a local build sandbox
(envs.wheelhouse) and installs them with `pip --no-index` in set-up steps that have no
network.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shlex
import tarfile
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from swelego_ray.envs._conda_yml import conda_requirements
from swelego_ray.envs._setup_container import run_and_commit
from swelego_ray.envs._setup_files import inline_text
from swelego_ray.envs._spec import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs._swebench_specs import (
    REQUIREMENTS_DROP,
    requirements_step_candidates,
    vcs_as_name,
)
from swelego_ray.envs.failures import (
    EnvStepFailed,
    forget_failures,
    record_failure,
    refuse_recorded,
)
from swelego_ray.envs.interpreters import find_interpreter
from swelego_ray.envs.project_deps import (
    build_requirements,
    local_target_extras,
    static_dependencies,
)
from swelego_ray.envs.repos import cached_checkout, file_lock
from swelego_ray.envs.resolution import build_constraints, pip_install_args
from swelego_ray.envs.wheelhouse import wheelhouse
from swelego_ray.gitsafe import GIT_SHELL, reset_shell
from swelego_ray.sandbox import TESTBED, VENV
from swelego_ray.sandbox.engine import (
    HARNESS_TOOLS,
    HEAD_FILE,
    LABEL_HEAD,
    LABEL_KEY,
    MISSING_TOOLS_SHELL,
)
from swelego_ray.storage import content_hash

if TYPE_CHECKING:
    import docker

logger = logging.getLogger(__name__)

LABEL_SPEC = "swelego.spec_digest"
# git in the image build after the set-up ran: a shell function with gitsafe's options
# (the fixed config that reset_shell writes carries the identity), and a fixed clock for
# the set-up commit.
_GIT = "safe_git"
_GIT_FUNCTION = f'safe_git() {{ {GIT_SHELL} "$@"; }}'
_EPOCH = "2000-01-01T00:00:00+0000"
_FIXED_GIT = f"GIT_AUTHOR_DATE={_EPOCH} GIT_COMMITTER_DATE={_EPOCH} {_GIT}"
# Debian packages that bring them to a base that lacks some (python:<v>-slim: git, patch).
_TOOL_PACKAGES = {"git": "git", "patch": "patch", "tar": "tar", "timeout": "coreutils"}
_BUILD_PACKAGES = ("pip", "setuptools", "wheel")  # what `pip install -e .` needs offline
_INSTALL = "/opt/swelego/install.sh"
_BUILD = "/opt/swelego/build"  # the venv script and the wheelhouse during set-up
_OFFLINE = f"PIP_NO_INDEX=1 PIP_FIND_LINKS={_BUILD}/wheels "
# Every image's environment (set at the venv step, kept by each commit after it).
_IMAGE_ENV = {
    "VIRTUAL_ENV": VENV,
    "PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_CACHE_DIR": "1",
}
_FINAL_CONFIG = [f"WORKDIR {TESTBED}", 'CMD ["sleep", "infinity"]']
# Names how images are made (set-up steps as committed containers); part of every tag.
_RECIPE = f"setup-containers-2 {sorted(_IMAGE_ENV.items())} {_FINAL_CONFIG}"


class ImageConfig(BaseModel):
    """How environment images are built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_image: str = "python:{python}-slim"
    """Base image; `{python}` is replaced by the spec's major.minor version."""
    host_interpreters: bool = False
    """Copy this host's interpreter (pyenv) into a cached layer when the base lacks it."""
    wheelhouse: bool = False
    """`pip download` on the host, `pip install --no-index` in a build without network."""
    build_timeout_s: float = 1800.0
    retry_failed_builds: bool = False
    """Build images whose set-up failed before this builder was made again, once
    (envs.failures), instead of refusing them with the recorded error."""
    retry_failed_before: float | None = None
    """With retry_failed_builds: retry the failures recorded before this time.time() (a
    run's start, so that its workers retry each image once) instead."""


def _recipe(name: str) -> str:
    return resources.files("swelego_ray.envs.dockerfiles").joinpath(name).read_text()


def _venv_script(spec: EnvSpec) -> str:
    packages = " ".join(shlex.quote(p) for p in spec.packages)
    lines = [
        "set -euxo pipefail",
        'PY="$1"',
        # python:<v>-slim has no git and no patch; a local base brings its own.
        _install_missing_tools(),
        f'"$PY" -m venv {VENV}',
        f"mkdir -p {TESTBED}",
    ]
    if packages:
        lines.append(f"{VENV}/bin/python -m pip install {packages}")
    return "\n".join(lines) + "\n"


def _step_requirements(spec: EnvSpec, checkout: Path) -> list[str]:
    """Requirement arguments of all the spec's `python -m pip install ...` steps, in order
    (`_requirement_groups` keeps them apart)."""
    return [arg for group in _requirement_groups(spec, checkout) for arg in group]


def _requirement_groups(spec: EnvSpec, checkout: Path) -> list[list[str]]:
    """Requirement arguments of each of the spec's `python -m pip install ...` commands,
    one list per command in build order, for the offline wheelhouse: named requirements
    as given, `-r FILE` as FILE's path in the checkout; the project itself (`.`,
    `-e .[test]`) is built in the image, its declared dependencies downloaded
    (envs.project_deps). Each list is resolved on its own, as the local builder installs
    each command on its own (a later pin of a package replaces an earlier one)."""
    groups: list[list[str]] = []
    for command in [*spec.pre_install, *spec.install]:
        if inlined := inline_text(command):  # the file as it is at the setup commit
            groups.append(_requirements_text_args(*inlined, parent=checkout))
            continue
        candidates = requirements_step_candidates(command)
        if candidates is not None:  # SWE-bench's "requirements file" step
            groups.append(_requirements_file_args(checkout, candidates))
            continue
        for args in pip_install_args(command):
            groups.append(_install_args(args, checkout))
    return [group for group in groups if group]


def _install_args(args: list[str], checkout: Path) -> list[str]:
    """What one `pip install ARGS` needs downloaded (see _requirement_groups)."""
    found: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token in ("-r", "--requirement"):
            name = next(tokens, "")
            found += ["-r", str(checkout / name)] if "$" not in name else []
        elif token in ("-e", "--editable"):
            found += _project_deps(checkout, next(tokens, ""))
        elif token in ("-c", "--constraint", "-i", "--index-url"):
            next(tokens, None)
        elif token.startswith("."):
            found += _project_deps(checkout, token)
        elif not token.startswith(("-", "/", "$")):
            found.append(token)
    return found


def _project_deps(checkout: Path, target: str) -> list[str]:
    """The build requirements and dependencies of the project itself when `target` names
    it (`.`, `.[test]`): pip builds it offline in an isolated environment."""
    extras = local_target_extras(target)
    if extras is None:
        return []
    return [*build_requirements(checkout), *static_dependencies(checkout, extras)]


def _requirements_file_args(checkout: Path, candidates: list[str]) -> list[str]:
    """What the requirements step will install: the first candidate file that exists,
    filtered as the step filters it (nested -r / -c files by path; other options dropped)."""
    chosen = next((checkout / c for c in candidates if (checkout / c).is_file()), None)
    if chosen is None:
        return []  # the build step fails with its own message
    text = chosen.read_text(errors="replace")
    return _requirements_text_args(str(chosen.relative_to(checkout)), text, parent=checkout)


def _requirements_text_args(path: str, text: str, *, parent: Path) -> list[str]:
    """Requirement arguments of a requirements file / environment.yml at `path` (relative
    to `parent`) with contents `text`, filtered as the build step filters it."""
    if path.endswith((".yml", ".yaml")):  # SWE-bench's environment.yml
        text = "\n".join(conda_requirements(text))
    drop = re.compile(REQUIREMENTS_DROP)
    args: list[str] = []
    for line in text.splitlines():
        if drop.match(line):
            continue
        line = vcs_as_name(line).split(" #", 1)[0].strip()
        if not line:
            continue
        option, _, value = line.partition(" ")
        if option in ("-r", "--requirement", "-c", "--constraint") and value.strip():
            args += [option, str((parent / path).parent / value.strip())]
        elif not line.startswith("-"):
            args.append(line)
    return args


def _install_script(spec: EnvSpec) -> str:
    lines = ["set -euxo pipefail", f"cd {TESTBED}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(spec.env_vars.items())]
    # each step in its own shell, as the local builder runs them (a step may `exit`, as
    # SWE-bench's requirements-file step does; set -e still stops at a failing one)
    lines += [f"(\n{step}\n)" for step in [*spec.pre_install, *spec.install]]
    lines.append(f"cd {TESTBED}")
    # The set-up ran the repository's code with .git writable: as the local builder does,
    # reset it (gitsafe) before git runs again, so nothing the set-up configured (filters,
    # fsmonitor, hooks) runs here or in sandboxes of this image.
    lines += [reset_shell(TESTBED).rstrip("\n"), _GIT_FUNCTION]
    # Tracked files the set-up edited (pre_install seds) are committed, as SWE-bench does,
    # and untracked build artifacts (egg-info, build/) excluded locally, so a new sandbox
    # starts with an empty diff against the commit recorded in HEAD_FILE.
    status = "status --porcelain --untracked-files=no --ignore-submodules=all"
    lines.append(
        f'if [ -n "$({_GIT} {status})" ]; then '
        f"{_FIXED_GIT} commit -qa --no-verify -m 'swelego: environment set-up edits'; fi"
    )
    lines.append(
        f"{_GIT} ls-files --others --exclude-standard --directory"
        " | sed 's/[][*?\\\\]/\\\\&/g; s|^|/|' >> .git/info/exclude"
    )
    lines.append(f"{_GIT} rev-parse HEAD > {HEAD_FILE}")
    # Every image has what the harness runs (the set-up may have removed something).
    lines.append(f"missing=$({MISSING_TOOLS_SHELL})")
    lines.append(
        'if [ -n "$missing" ]; then echo "swelego: the image lacks" $missing'
        ' "(the harness needs: ' + " ".join(HARNESS_TOOLS) + ')" >&2; exit 1; fi'
    )
    return "\n".join(lines) + "\n"


def _install_missing_tools() -> str:
    """Shell installing (apt) the Debian packages of the HARNESS_TOOLS a base lacks."""
    checks = " ".join(
        f'command -v {tool} >/dev/null || pkgs="$pkgs {package}";'
        for tool, package in _TOOL_PACKAGES.items()
    )
    return (
        f'pkgs=""; {checks} if [ -n "$pkgs" ]; then apt-get update -qq && '
        "apt-get install -y -qq --no-install-recommends $pkgs && "
        "rm -rf /var/lib/apt/lists/*; fi"
    )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


class ImageBuilder:
    """Builds (or finds) environment images in one Docker-API engine."""

    def __init__(self, client: docker.DockerClient, config: ImageConfig, cache_dir: Path):
        self.client = client
        self.config = config
        self.cache_dir = Path(cache_dir)
        self._has_python: dict[tuple[str, str], bool] = {}
        # retried: failures recorded before this (envs.failures)
        self._retry_before = config.retry_failed_before or time.time()

    def base_for(self, spec: EnvSpec) -> str:
        return self.config.base_image.format(python=spec.python)

    def tag_for(self, env: Environment) -> str:
        """The tag an up-to-date image of `env` has (the base must be present)."""
        base_id = self._base_id(self.base_for(env.spec))
        recipe = [_RECIPE, _venv_script(env.spec), _install_script(env.spec)]
        opts = self.config.model_dump(exclude={"build_timeout_s"})
        parts = [env.key, base_id, recipe, opts, self._host_interpreter(env.spec)]
        return f"swelego-env:{content_hash(parts)[:24]}"

    def _host_interpreter(self, spec: EnvSpec) -> str | None:
        """The host interpreter an image may copy (a pyenv upgrade means a new image)."""
        if not self.config.host_interpreters:
            return None
        try:
            return str(find_interpreter(spec.python).resolve())
        except EnvBuildError:
            return None

    def image_exists(self, tag: str) -> bool:
        import docker

        try:
            self.client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    def ensure(self, env: Environment) -> str:
        """The tag of `env`'s image, building it first if needed (locked across processes)."""
        tag = self.tag_for(env)
        if self.image_exists(tag):
            return tag
        retry_before = self._retry_before if self.config.retry_failed_builds else None
        refuse_recorded(self.cache_dir, "docker", env, retry_before=retry_before)
        with file_lock(self.cache_dir / "docker" / "locks" / f"{tag.split(':')[1]}.lock"):
            if self.image_exists(tag):
                return tag
            # another process (or this run's retry) may have failed meanwhile
            refuse_recorded(self.cache_dir, "docker", env, retry_before=retry_before)
            started = time.monotonic()
            try:
                self._build_env(env, tag)
            except EnvStepFailed as exc:
                record_failure(self.cache_dir, env, "docker", exc)
                raise
            forget_failures(self.cache_dir, [env.key], ("docker",))
            logger.info("built %s for %s in %.1fs", tag, env.key, time.monotonic() - started)
        return tag

    def _base_id(self, base: str) -> str:
        import docker

        try:
            return self.client.images.get(base).id
        except docker.errors.ImageNotFound:
            pass
        try:
            return self.client.images.pull(base).id
        except docker.errors.DockerException as exc:
            raise EnvBuildError(
                f"base image {base!r} is not present and cannot be pulled: {exc}"
            ) from exc

    def _python_base(self, spec: EnvSpec) -> tuple[str, str]:
        """(image to build FROM, interpreter command) for spec.python."""
        base = self.base_for(spec)
        command = f"python{spec.python}"
        if not self.config.host_interpreters or self._base_has(base, command):
            return base, command
        interpreter = find_interpreter(spec.python)
        prefix = interpreter.resolve().parent.parent
        if str(prefix) in ("/usr", "/usr/local", "/"):
            raise EnvBuildError(
                f"python {spec.python} at {interpreter} is a system install, not a "
                "self-contained prefix; use a base image that has it"
            )
        tag = (
            f"swelego-python:{spec.python}-{content_hash([self._base_id(base), str(prefix)])[:16]}"
        )
        if not self.image_exists(tag):
            with file_lock(self.cache_dir / "docker" / "locks" / f"python-{spec.python}.lock"):
                if not self.image_exists(tag):
                    self._build_python_layer(base, prefix, tag)
        return tag, str(prefix / "bin" / command)

    def _base_has(self, base: str, command: str) -> bool:
        key = (base, command)
        if key not in self._has_python:
            out = self._output_of(base, ["sh", "-c", f"command -v {command} || true"])
            self._has_python[key] = bool(out.strip())
        return self._has_python[key]

    def _output_of(self, image: str, argv: list[str], timeout_s: float = 120.0) -> str:
        """Output of a short command in a throwaway container (create/start/wait/logs: a
        streamed `containers.run` hung on podman when the container exited before the
        attach)."""
        import docker

        container = self.client.containers.create(image, argv, network_mode="none")
        try:
            container.start()
            container.wait(timeout=timeout_s)
            return container.logs(stdout=True, stderr=True).decode(errors="replace")
        except (docker.errors.DockerException, OSError) as exc:  # incl. a read timeout
            raise EnvBuildError(f"running {argv} in {image} failed: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    def _build_python_layer(self, base: str, prefix: Path, tag: str) -> None:
        def skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = info.name.split("/")
            return None if "__pycache__" in parts or "test" in parts[3:5] else info

        with tempfile.TemporaryFile() as ctx:
            with tarfile.open(fileobj=ctx, mode="w") as tar:
                _add_bytes(tar, "Dockerfile", _recipe("python.Dockerfile").encode())
                tar.add(prefix, arcname="python", filter=skip)
            ctx.seek(0)
            args = {"BASE_IMAGE": base, "PREFIX": str(prefix)}
            self._run_build(ctx, tag, args, {})

    def _wheels(self, spec: EnvSpec, checkout: Path) -> list[Path]:
        """Wheels for the build basics with the spec's packages, then for each pip install
        command of its steps (requirements files read from the checkout), in build order:
        one resolution per install, as the local builder installs them, so two steps that
        pin different versions of a package both find theirs (flask 2.3's requirements
        pin markupsafe 2.1.2, SWE-bench's spec 2.1.1; the later install wins, as it does
        locally). Downloaded in a build sandbox (envs.wheelhouse: their setup code never
        runs on the host) once per list. Under a cutoff, uv resolves first (the builder's
        rule, envs/resolution.py) and pip downloads exactly those pins."""
        groups = [[*_BUILD_PACKAGES, *spec.packages], *_requirement_groups(spec, checkout)]
        # dated before setuptools 81: no newer setuptools in the wheelhouse, so pip's
        # isolated builds offline take one with pkg_resources (envs/resolution.py)
        constraints = build_constraints(spec)
        files: dict[str, Path] = {}
        for group in [[*g, *constraints] for g in groups]:
            for path in wheelhouse(
                self.cache_dir, spec, checkout, group, self.config.build_timeout_s
            ):
                files.setdefault(path.name, path)  # one file name is one distribution file
        return list(files.values())

    def _build_env(self, env: Environment, tag: str) -> None:
        """The venv image (shared by every commit with the same base, Python and
        packages), then the set-up in a container of it, committed as `tag`."""
        spec = env.spec
        checkout = cached_checkout(env.repo, env.source, env.commit, self.cache_dir)
        venv_image = self._venv_image(spec, checkout)
        labels = {LABEL_KEY: env.key, LABEL_SPEC: spec.digest(), LABEL_HEAD: checkout.name}
        files = {TESTBED: checkout, _INSTALL: _install_script(spec).encode()}
        offline = _OFFLINE if self.config.wheelhouse else ""
        self._setup_step(
            venv_image,
            tag,
            ["bash", "-c", f"{offline}bash {_INSTALL} && rm -rf {_INSTALL} {_BUILD}"],
            files,
            [*(f"LABEL {k}={json.dumps(v)}" for k, v in labels.items()), *_FINAL_CONFIG],
            env.key,
        )

    def _venv_image(self, spec: EnvSpec, checkout: Path) -> str:
        """`swelego-venv:<digest>`: FROM the spec's Python base, its venv with spec.packages
        (from the wheelhouse, with no network, when configured), built once."""
        from_image, python = self._python_base(spec)
        wheels = self._wheels(spec, checkout) if self.config.wheelhouse else []
        script = _venv_script(spec)
        parts = [_RECIPE, self._base_id(from_image), python, script, [w.name for w in wheels]]
        tag = f"swelego-venv:{content_hash(parts, self.config.wheelhouse)[:24]}"
        if self.image_exists(tag):
            return tag
        with file_lock(self.cache_dir / "docker" / "locks" / f"venv-{tag.split(':')[1]}.lock"):
            if self.image_exists(tag):
                return tag
            # the wheels stay for the set-up step (it removes them)
            files: dict[str, bytes | Path] = {f"{_BUILD}/venv.sh": script.encode()}
            files |= {f"{_BUILD}/wheels/{w.name}": w for w in wheels}
            offline = _OFFLINE if wheels else ""
            venv_sh = f"{_BUILD}/venv.sh"
            command = f"{offline}bash {venv_sh} {shlex.quote(python)} && rm {venv_sh}"
            self._setup_step(from_image, tag, ["bash", "-c", command], files, [], tag)
        return tag

    def _setup_step(
        self,
        image: str,
        tag: str,
        command: list[str],
        files: dict[str, bytes | Path],
        changes: list[str],
        what: str,
    ) -> None:
        """A set-up step as a committed container (envs._setup_container): no network
        with the wheelhouse; without it (a registry base, PyPI and apt in the steps) the
        engine's default network, never the host's."""
        logs = self.cache_dir / "docker" / "logs"
        name = what.replace(":", "_").replace("/", "_")
        try:
            run_and_commit(
                self.client,
                image,
                tag,
                command,
                files=files,
                network=not self.config.wheelhouse,
                environment=_IMAGE_ENV,
                changes=changes,
                timeout_s=self.config.build_timeout_s,
                log=logs / f"{name}.log",
            )
        except EnvBuildError as exc:
            kept = logs / f"{name}.failed.log"
            with contextlib.suppress(OSError):
                (logs / f"{name}.log").replace(kept)
            detail = str(exc).replace(str(logs / f"{name}.log"), str(kept))
            message = f"image build for {what} failed: {detail}"
            if isinstance(exc, EnvStepFailed):
                raise EnvStepFailed(message, log=str(kept)) from exc
            raise EnvBuildError(message) from exc
        (logs / f"{name}.log").unlink(missing_ok=True)
        if not self.image_exists(tag):
            raise EnvBuildError(f"image build for {what} ended without an image {tag}")

    def _run_build(
        self,
        context: Any,
        tag: str,
        buildargs: dict[str, str],
        labels: dict[str, str],
        env: Environment | None = None,
    ) -> None:
        """Build `tag` from `context`: only for Dockerfiles without RUN steps (podman's
        build API runs them in the host's network namespace, see envs._setup_container)."""
        import docker

        log: list[str] = []
        try:
            stream = self.client.api.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                buildargs=buildargs,
                labels=labels,
                rm=True,
                forcerm=True,
                network_mode="none",
                decode=True,
                timeout=self.config.build_timeout_s,
            )
            for chunk in stream:
                log.append(str(chunk.get("stream") or chunk.get("error") or ""))
                if "error" in chunk:
                    raise EnvBuildError(chunk["error"])
        except (docker.errors.DockerException, EnvBuildError) as exc:
            what = env.key if env else tag.replace(":", "_").replace("/", "_")
            kept = self.cache_dir / "docker" / "logs" / f"{what}.failed.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text("".join(log))
            tail = "".join(log)[-3000:]
            raise EnvBuildError(
                f"image build for {what} failed ({str(exc)[:300]}); log: {kept}\n{tail}"
            ) from exc
        if not self.image_exists(tag):
            raise EnvBuildError(f"image build for {tag} ended without an image:\n{''.join(log)}")
