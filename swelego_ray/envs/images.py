"""Environment images for the docker backend: one image per Environment.key.

The image holds the repository at its commit in TESTBED and the spec's virtualenv at
VENV, built FROM a configurable base (`python:<version>-slim` where a registry is
reachable; a local debootstrap base otherwise). Its tag is a digest of everything that
shapes it (env key, base image id, recipe files, options), so an existing tag means
up to date and a rebuild is skipped; labels carry the env key and spec digest for people.

Two options make it work on machines without a registry or PyPI inside builds:
`host_interpreters` copies this host's interpreter for spec.python into a cached layer
when the base lacks it; `wheelhouse` downloads wheels on the host and installs them with
`pip --no-index` while the build has no network.
"""

from __future__ import annotations

import contextlib
import io
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

from swelego_ray.envs._spec import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs._swebench_specs import REQUIREMENTS_DROP, requirements_step_candidates
from swelego_ray.envs.interpreters import find_interpreter
from swelego_ray.envs.project_deps import local_target_extras, static_dependencies
from swelego_ray.envs.repos import cached_checkout, file_lock
from swelego_ray.envs.resolution import pip_install_args
from swelego_ray.envs.wheelhouse import wheelhouse
from swelego_ray.sandbox._protocol import TESTBED, VENV
from swelego_ray.storage import content_hash

if TYPE_CHECKING:
    import docker

logger = logging.getLogger(__name__)

LABEL_KEY = "swelego.env_key"
LABEL_SPEC = "swelego.spec_digest"
LABEL_HEAD = "swelego.head"  # the commit TESTBED was checked out at
HEAD_FILE = "/opt/swelego/head"  # the commit after set-up: diffs are taken against it
_FIXED_GIT = (
    "GIT_AUTHOR_DATE=2000-01-01T00:00:00+0000 GIT_COMMITTER_DATE=2000-01-01T00:00:00+0000 "
    "git -c user.name=swelego -c user.email=swelego@localhost -c commit.gpgsign=false "
    "-c core.hooksPath=/dev/null"
)
_BUILD_PACKAGES = ("pip", "setuptools", "wheel")  # what `pip install -e .` needs offline


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


def _recipe(name: str) -> str:
    return resources.files("swelego_ray.envs.dockerfiles").joinpath(name).read_text()


def _venv_script(spec: EnvSpec) -> str:
    packages = " ".join(shlex.quote(p) for p in spec.packages)
    lines = [
        "set -euxo pipefail",
        'PY="$1"',
        # python:<v>-slim has no git; a local base brings its own.
        "if ! command -v git >/dev/null; then apt-get update -qq &&"
        " apt-get install -y -qq --no-install-recommends git && rm -rf /var/lib/apt/lists/*; fi",
        f'"$PY" -m venv {VENV}',
        f"mkdir -p {TESTBED}",
    ]
    if packages:
        lines.append(f"{VENV}/bin/python -m pip install {packages}")
    return "\n".join(lines) + "\n"


def _step_requirements(spec: EnvSpec, checkout: Path) -> list[str]:
    """Requirement arguments of the spec's `python -m pip install ...` steps, for the
    offline wheelhouse: named requirements as given, `-r FILE` as FILE's path in the
    checkout; the project itself (`.`, `-e .[test]`) is built in the image, its declared
    dependencies downloaded (envs.project_deps)."""
    found: list[str] = []
    for command in [*spec.pre_install, *spec.install]:
        candidates = requirements_step_candidates(command)
        if candidates is not None:  # SWE-bench's "requirements file" step
            found += _requirements_file_args(checkout, candidates)
            continue
        for args in pip_install_args(command):
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
    """The dependencies of the project itself when `target` names it (`.`, `.[test]`)."""
    extras = local_target_extras(target)
    return [] if extras is None else static_dependencies(checkout, extras)


def _requirements_file_args(checkout: Path, candidates: list[str]) -> list[str]:
    """What the requirements step will install: the first candidate file that exists,
    filtered as the step filters it (nested -r / -c files by path; other options dropped)."""
    chosen = next((checkout / c for c in candidates if (checkout / c).is_file()), None)
    if chosen is None:
        return []  # the build step fails with its own message
    drop = re.compile(REQUIREMENTS_DROP)
    args: list[str] = []
    for line in chosen.read_text(errors="replace").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or drop.match(line):
            continue
        option, _, value = line.partition(" ")
        if option in ("-r", "--requirement", "-c", "--constraint") and value.strip():
            args += [option, str(chosen.parent / value.strip())]
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
    # Tracked files the set-up edited (pre_install seds) are committed, as SWE-bench does,
    # and untracked build artifacts (egg-info, build/) excluded locally, so a new sandbox
    # starts with an empty diff against the commit recorded in HEAD_FILE.
    lines.append(
        'if [ -n "$(git status --porcelain --untracked-files=no)" ]; then '
        f"{_FIXED_GIT} commit -qa --no-verify -m 'swelego: environment set-up edits'; fi"
    )
    lines.append(
        "git ls-files --others --exclude-standard --directory"
        " | sed 's/[][*?\\\\]/\\\\&/g; s|^|/|' >> .git/info/exclude"
    )
    lines.append(f"git rev-parse HEAD > {HEAD_FILE}")
    return "\n".join(lines) + "\n"


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

    def base_for(self, spec: EnvSpec) -> str:
        return self.config.base_image.format(python=spec.python)

    def tag_for(self, env: Environment) -> str:
        """The tag an up-to-date image of `env` has (the base must be present)."""
        base_id = self._base_id(self.base_for(env.spec))
        recipe = [_recipe("env.Dockerfile"), _venv_script(env.spec), _install_script(env.spec)]
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
        with file_lock(self.cache_dir / "docker" / "locks" / f"{tag.split(':')[1]}.lock"):
            if self.image_exists(tag):
                return tag
            started = time.monotonic()
            self._build_env(env, tag)
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
            self._run_build(ctx, tag, {"BASE_IMAGE": base, "PREFIX": str(prefix)}, {})

    def _wheels(self, spec: EnvSpec, checkout: Path) -> list[Path]:
        """Wheels for the build basics, the spec's packages and what its pip install steps
        name (requirements files read from the checkout), downloaded in a build sandbox
        (envs.wheelhouse: their setup code never runs on the host) once per list. Under a
        cutoff, uv resolves first (the builder's rule, envs/resolution.py) and pip
        downloads exactly those pins."""
        requirements = [*_BUILD_PACKAGES, *spec.packages, *_step_requirements(spec, checkout)]
        return wheelhouse(self.cache_dir, spec, checkout, requirements, self.config.build_timeout_s)

    def _build_env(self, env: Environment, tag: str) -> None:
        spec = env.spec
        from_image, python = self._python_base(spec)
        checkout = cached_checkout(env.repo, env.source, env.commit, self.cache_dir)
        args = {"BASE_IMAGE": from_image, "PYTHON": python}
        with tempfile.TemporaryFile() as ctx:
            with tarfile.open(fileobj=ctx, mode="w") as tar:
                _add_bytes(tar, "Dockerfile", _recipe("env.Dockerfile").encode())
                _add_bytes(tar, "venv/venv.sh", _venv_script(spec).encode())
                _add_bytes(tar, "install.sh", _install_script(spec).encode())
                if self.config.wheelhouse:
                    for wheel in self._wheels(spec, checkout):
                        tar.add(wheel, arcname=f"venv/wheels/{wheel.name}")
                    args |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/opt/swelego/build/wheels"}
                tar.add(checkout, arcname="repo")
            ctx.seek(0)
            labels = {LABEL_KEY: env.key, LABEL_SPEC: spec.digest(), LABEL_HEAD: checkout.name}
            self._run_build(ctx, tag, args, labels, env=env)

    def _run_build(
        self,
        context: Any,
        tag: str,
        buildargs: dict[str, str],
        labels: dict[str, str],
        env: Environment | None = None,
    ) -> None:
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
                network_mode="none" if self.config.wheelhouse else None,
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
