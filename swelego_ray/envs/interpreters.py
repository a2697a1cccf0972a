"""Finding the exact Python interpreter an environment asks for (never a substitute)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from swelego_ray.envs._spec import EnvBuildError

_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def _ask(interpreter: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` on `interpreter` (30 s at most); OSError / TimeoutExpired propagate."""
    return subprocess.run(
        [str(interpreter), "-c", code], capture_output=True, text=True, timeout=30
    )


def _reports_version(path: Path, version: str) -> bool:
    try:
        out = _ask(path, "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out == version


def _patch_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.parent.name))


def _candidates(version: str) -> list[Path]:
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(
        pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), key=_patch_key, reverse=True
    )
    uv = shutil.which("uv")
    if uv:
        proc = subprocess.run(
            [uv, "python", "find", "--no-project", version],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        )
        if proc.returncode == 0 and proc.stdout.strip():
            found.append(Path(proc.stdout.strip()))
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(Path(on_path))
    return found


@cache
def find_interpreter(version: str) -> Path:
    """A Python `major.minor` interpreter (pyenv, `uv python find`, PATH), checked by running it.

    Raises EnvBuildError listing where it looked when none exists."""
    if not _VERSION.match(version):
        raise EnvBuildError(f"python version {version!r} is not of the form MAJOR.MINOR")
    for path in _candidates(version):
        if path.exists() and _reports_version(path, version):
            return path
    raise EnvBuildError(
        f"no Python {version} interpreter found (looked in pyenv versions, `uv python find`, "
        f"python{version} on PATH); install it, e.g. `pyenv install {version}` or "
        f"`uv python install {version}`"
    )


@cache
def available_versions() -> list[str]:
    """The `major.minor` versions from 2.7 and 3.6 to 3.14 that exist here."""
    versions = ["2.7"] + [f"3.{minor}" for minor in range(6, 15)]
    present = []
    for version in versions:
        try:
            find_interpreter(version)
        except EnvBuildError:
            continue
        present.append(version)
    return present


def _with_real(path: Path) -> tuple[Path, ...]:
    real = Path(os.path.realpath(path))
    return (path,) if real == path else (path, real)


@cache
def interpreter_prefixes(interpreter: Path) -> tuple[Path, ...]:
    """The installation prefix of `interpreter` (its `sys.base_prefix`, and that path with
    symlinks resolved when it differs): what a sandbox binds so that the interpreter and
    venvs made from it run there."""
    try:
        out = _ask(interpreter, "import sys; print(sys.base_prefix)")
    except (OSError, subprocess.TimeoutExpired) as err:
        raise EnvBuildError(f"cannot run the interpreter {interpreter}: {err}") from err
    prefix = out.stdout.strip()
    if out.returncode != 0 or not prefix.startswith("/"):
        raise EnvBuildError(
            f"the interpreter {interpreter} did not report its prefix: {out.stderr[-500:]}"
        )
    return _with_real(Path(prefix))


@cache
def venv_prefixes(venv: Path) -> tuple[Path, ...]:
    """The prefix of the interpreter `venv` was made from, from its pyvenv.cfg `home`
    (`<prefix>/bin`), with symlinks resolved too when they differ."""
    cfg = venv / "pyvenv.cfg"
    try:
        lines = cfg.read_text().splitlines()
    except OSError as err:
        raise EnvBuildError(f"{venv} is not a virtualenv: cannot read {cfg}: {err}") from err
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home" and value.strip().startswith("/"):
            home = Path(value.strip())
            return _with_real(home.parent if home.name == "bin" else home)
    raise EnvBuildError(f"{cfg} names no absolute `home` (the interpreter's bin directory)")
