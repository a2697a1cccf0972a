"""How an environment's packages are resolved: one rule for local builds and images.

A historical task (one with `created_at`) resolves against the index as it was then:
uploads after the cutoff do not exist for the resolver (uv's `--exclude-newer`). The
cutoff belongs to the environment, not the task: the environment commit's committer date
plus CUTOFF_MARGIN (one day, for releases made the same day as the commit). Tasks on one
commit share one environment whatever their created_at (the samples put four tasks on
each base commit), and a commit made after the task was opened (SWE-bench's
environment_setup_commit) may need releases newer than created_at (sqlfluff 0.8's
requirements_dev.txt needs flake8-black>=0.2.4, published after sqlfluff__sqlfluff-2386
was opened). Only where the commit has no date of its own (a plain directory source,
snapshotted with a fixed date) does created_at plus the margin stand in. Tasks without
created_at resolve against today's index.

An environment cannot predate its interpreter: a SWE-bench spec runs 2019 tasks on Python
3.9 (released 2020-10), and the packages of 2019 do not run there (pytest 4.6 took
importlib-metadata 0.18, which breaks on 3.9's importlib: every test run exited 1) or
have no wheels for it (xarray 0.12's spec asks 3.10 for 2021 commits: every compiled
package needed a source build). So the cutoff is at least the interpreter's first release
plus INTERPRETER_MARGIN (PYTHON_RELEASES), the earliest date its environment could have
been installed with the wheels of its time.

Two exemptions keep deliberate choices working: packages a spec pins exactly (`==`; e.g.
SWE-bench's pytest 8.0 spec pins pluggy==1.3.0, published after some of its commits) and
the build tools (pip, setuptools, wheel: what the builder seeds today, and what isolated
builds of old sdists need, e.g. setuptools>=40.8.0) are resolved without the cutoff.
Isolated builds of a dated environment whose cutoff is older than setuptools 81 (which
removed pkg_resources) are constrained to setuptools<81 (`build_constraints`): the build
tooling of the time imports pkg_resources (pytest 5.4's setuptools_scm 4.x failed to
build its own project with today's setuptools).

Yanked releases: uv (like pip's resolver) only takes a yanked version that is pinned with
`==` (requirement, constraint or override). A version uploaded before the cutoff existed
then, so when a resolution under a cutoff fails on yanked versions (types-pkg_resources,
all of whose versions are yanked today), `yanked_pins` reads them from uv's message and the
caller retries with `NAME==VERSION` constraints (newest yanked version named per package;
under --exclude-newer uv names no version uploaded after the cutoff).

The test runner: a spec that asks for pytest without a version (SWE-bench's requests,
matplotlib, seaborn, ... specs: "the current pytest", as its images have) gets it and what
it needs to run (RUNNER_PACKAGES) without the cutoff: under an old cutoff plain `pytest`
resolves to 2.x, which has no `pytest` command (requests 2014 tasks exited 127). A spec
derived from an old checkout asks for `pytest>=3.0` instead (specs.default_spec): the
pytest of its time, with its command.

Packages with no wheel for the interpreter before the cutoff: a release from before the
cutoff may only be an sdist for a newer Python (numpy 1.18 on 3.9, netCDF4 1.5.3), whose
build then fails. When a step fails that way, `failed_builds` names the packages uv could
not build, `oldest_wheel_command` asks uv (in the build sandbox) for the oldest release at
or above that version with a wheel for the interpreter, and the step is retried with that
release pinned (a constraint) and the package exempt from the cutoff: the nearest thing to
"as it was then" that installs. Each such relaxation is logged in the build log and as a
warning, and kept in the built environment's record (VenvBuild.relaxed).

pip steps (fallbacks, and pip-only flags) resolve without the cutoff: pip has
`--uploaded-prior-to` only from 26.0 (venvs of Python <= 3.8 get older pips) and no
per-package exemption, so it would fail isolated builds of old sdists.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from swelego_ray.envs._spec import EnvBuildError, EnvSpec

CUTOFF_MARGIN = timedelta(days=1)
# An environment cannot predate its interpreter: the first release of each Python minor
# (python.org), plus the time the ecosystem took to ship wheels for it (numpy, pandas,
# scipy, h5py had cp39 / cp310 wheels within ~6 weeks; numba within ~14).
PYTHON_RELEASES = {
    "3.5": "2015-09-13",
    "3.6": "2016-12-23",
    "3.7": "2018-06-27",
    "3.8": "2019-10-14",
    "3.9": "2020-10-05",
    "3.10": "2021-10-04",
    "3.11": "2022-10-24",
    "3.12": "2023-10-02",
    "3.13": "2024-10-07",
}
INTERPRETER_MARGIN = timedelta(days=90)
BUILD_TOOLS = ("pip", "setuptools", "wheel")
# What the current pytest needs to run on any interpreter SWE-bench uses (colorama only on
# Windows); uv backtracks within these where a newer one does not fit the interpreter.
RUNNER_PACKAGES = (
    "pytest",
    "pluggy",
    "py",
    "iniconfig",
    "exceptiongroup",
    "tomli",
    "pygments",
    "packaging",
    "colorama",
)
# setuptools 81.0.0 (no pkg_resources) was uploaded at this time (PyPI's upload time).
PKG_RESOURCES_REMOVED = "2026-02-06T21:10:37Z"
YANK_RETRIES = 3  # rounds of yanked pins per resolution (each round may surface another)
# rounds of "oldest release with a wheel" per step (one package each; xarray 0.12's
# environment.yml on Python 3.10 needed bottleneck, cartopy, llvmlite, rasterio, numba, ...)
WHEEL_RETRIES = 12

# `python -m pip install ARGS` as a whole shell command (start of the text or after a
# separator / `then` / `do` / `else`); ARGS run to the next separator.
_PIP_INSTALL = re.compile(
    r"(?P<lead>^|[;&|(]|\n|\b(?:then|do|else)\b)(?P<ws>\s*)python -m pip install(?=\s)"
)
_ARGS_END = re.compile(r"[;&|\n]")
_YANKED = re.compile(r"\b([A-Za-z0-9][A-Za-z0-9._-]*)(?:==|<=)([0-9][^\s,]*) was yanked")
# uv: "Failed to build `numpy==1.18.3`", "Failed to download and build `iniconfig==0.1`".
_FAILED_BUILD = re.compile(r"Failed to (?:download and )?build `([A-Za-z0-9][\w.-]*)==([^`\s]+)`")


def uv_bin() -> str:
    """The host path of the uv binary (symlinks resolved: build sandboxes bind it at a
    fixed path, see envs.builder). EnvBuildError names uv when it is missing."""
    try:
        import uv

        found: str | None = uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
    if found is None or not os.access(found, os.X_OK):
        raise EnvBuildError(
            "uv is required to build environments and was not found (in the `uv` package or "
            "on PATH); install it: `pip install uv` in the project's venv, or run "
            "scripts/setup.sh"
        )
    return os.path.realpath(found)


def _utc(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError as err:
        raise EnvBuildError(f"{what} {value!r} is not an ISO 8601 date-time") from err
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def python_out_by(version: str, when: str) -> bool:
    """Whether Python `version` (major.minor) had been out INTERPRETER_MARGIN (wheels
    shipped) at `when` (ISO 8601); versions PYTHON_RELEASES does not date are not."""
    released = PYTHON_RELEASES.get(".".join(version.split(".")[:2]))
    return released is not None and (
        _utc(released, "release date") + INTERPRETER_MARGIN <= _utc(when, "environment date")
    )


def cutoff_for(created_at: str, commit_date: str | None = None, python: str = "") -> str:
    """The `exclude_newer` (RFC 3339, UTC) of an environment whose commit was committed at
    `commit_date` (None: unknown, created_at stands in), for a task created at
    `created_at`, on Python `python` (major.minor; the cutoff is not earlier than its
    release plus INTERPRETER_MARGIN); "" without created_at."""
    if not created_at.strip():
        return ""
    anchor = _utc(commit_date, "commit date") if commit_date else _utc(created_at, "created_at")
    cutoff = anchor + CUTOFF_MARGIN
    released = PYTHON_RELEASES.get(".".join(python.split(".")[:2]))
    if released:
        cutoff = max(cutoff, _utc(released, "release date") + INTERPRETER_MARGIN)
    return cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")


def pip_install_spans(command: str) -> list[tuple[int, int, str]]:
    """(start, end, ARGS) of every `python -m pip install ARGS` command in a shell step;
    start..end covers `python -m pip install` itself."""
    spans = []
    for match in _PIP_INSTALL.finditer(command):
        start = match.start() + len(match["lead"]) + len(match["ws"])
        rest = command[match.end() :]
        stop = _ARGS_END.search(rest)
        spans.append((start, match.end(), rest[: stop.start() if stop else None].strip()))
    return spans


def pip_install_args(command: str) -> list[list[str]]:
    """The argument lists of a step's `python -m pip install` commands (unparsable shell
    quoting yields no list for that command)."""
    found = []
    for _, _, args in pip_install_spans(command):
        try:
            found.append(shlex.split(args))
        except ValueError:
            continue
    return found


def exact_pins(spec: EnvSpec) -> list[str]:
    """Canonical names the spec pins with `==` (in `packages` or its pip install steps)."""
    names = {
        canonicalize_name(r.name)
        for r in _spec_requirements(spec)
        if any(s.operator in ("==", "===") for s in r.specifier)
    }
    return sorted(names)


def _spec_requirements(spec: EnvSpec) -> list[Requirement]:
    """The requirements the spec names (in `packages` and its pip install steps)."""
    tokens = list(spec.packages)
    for command in [*spec.pre_install, *spec.install]:
        for args in pip_install_args(command):
            tokens += args
    found = []
    for token in tokens:
        if token.startswith("-"):
            continue
        try:
            found.append(Requirement(token))
        except InvalidRequirement:
            continue
    return found


def asks_for_current_runner(spec: EnvSpec) -> bool:
    """Whether the spec names pytest without any version specifier."""
    return any(
        canonicalize_name(r.name) == "pytest" and not r.specifier for r in _spec_requirements(spec)
    )


def cutoff_exempt(spec: EnvSpec) -> list[str]:
    """Canonical names resolved without the spec's cutoff: the build tools, the spec's
    exact pins, and the test runner when the spec asks for pytest without a version."""
    runner = RUNNER_PACKAGES if asks_for_current_runner(spec) else ()
    return sorted({*BUILD_TOOLS, *exact_pins(spec), *runner})


def uv_resolution_args(spec: EnvSpec, extra_exempt: tuple[str, ...] = ()) -> list[str]:
    """The flags every uv resolution for `spec` carries (none without a cutoff);
    `extra_exempt`: packages relaxed during the build (see failed_builds)."""
    if not spec.exclude_newer:
        return []
    args = ["--exclude-newer", spec.exclude_newer]
    for name in sorted({*cutoff_exempt(spec), *extra_exempt}):
        args += ["--exclude-newer-package", f"{name}=false"]
    return args


def build_constraints(spec: EnvSpec) -> list[str]:
    """Constraints of isolated (sdist / PEP 517) builds for `spec`: setuptools<81 when the
    cutoff predates its release (module docstring); none otherwise."""
    if spec.exclude_newer and _utc(spec.exclude_newer, "exclude_newer") < _utc(
        PKG_RESOURCES_REMOVED, "release time"
    ):
        return ["setuptools<81"]
    return []


def failed_builds(output: str) -> dict[str, str]:
    """{name: version} of the packages a failed uv step could not build from source."""
    return {canonicalize_name(name): version for name, version in _FAILED_BUILD.findall(output)}


def oldest_wheel_command(uv: str, python: str, spec: EnvSpec, name: str, version: str) -> str:
    """Shell asking uv for the oldest release of `name` at or above `version` that has a
    wheel for `python` (uploaded at any time), printed as `name==X`; the rest of the
    spec's rule applies to nothing else (`--no-deps`)."""
    args = [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--no-deps"]
    args += ["--python", python, "--resolution", "lowest", "--only-binary", name]
    args += [*uv_resolution_args(spec, (name,)), "-"]
    return f"echo {shlex.quote(f'{name}>={version}')} | {shlex.join(args)}"


def pinned_version(output: str, name: str) -> str | None:
    """The version `uv pip compile` printed for `name`, or None."""
    for line in output.splitlines():
        left, sep, right = line.strip().partition("==")
        if sep and canonicalize_name(left) == canonicalize_name(name):
            return right.split(";")[0].strip()
    return None


def yanked_pins(output: str) -> dict[str, str]:
    """{name: newest version} of the yanked versions a failed uv resolution names."""
    newest: dict[str, Version] = {}
    for name, text in _YANKED.findall(output):
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        key = canonicalize_name(name)
        if key not in newest or version > newest[key]:
            newest[key] = version
    return {name: str(version) for name, version in sorted(newest.items())}


def add_pins(path: Path, pins: dict[str, str]) -> dict[str, str]:
    """Append the pins not yet in the constraints file `path`; returns those added."""
    known = path.read_text().splitlines() if path.exists() else []
    names = {line.split("==")[0] for line in known}
    added = {name: v for name, v in pins.items() if name not in names}
    if added:
        with open(path, "a") as handle:
            handle.writelines(f"{name}=={version}\n" for name, version in added.items())
    return added


# Runs a command with an environment: (argv, env) -> its result (stdout and stderr apart).
Runner = Callable[[list[str], dict[str, str]], "subprocess.CompletedProcess[str]"]


def run_here(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run on the host: only for requirements the caller trusts (resolving may build an
    sdist, which runs its setup code)."""
    return subprocess.run(command, capture_output=True, text=True, env=env)


def resolve_pins(
    spec: EnvSpec,
    interpreter: Path,
    requirements: list[str],
    workdir: Path,
    *,
    run: Runner,
) -> list[str]:
    """`NAME==VERSION` for everything `requirements` (requirement strings, `-r` / `-c FILE`) need
    on `interpreter`, resolved by `uv pip compile` under the spec's rule, yanked versions
    accepted as above. Resolving may build sdists (their setup code runs), so there is no
    default `run`: callers pass one that runs uv in a build sandbox where `workdir`,
    `interpreter` and the files named are visible (`run_here` only for trusted input)."""
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = workdir / "requirements.in"
    lines, tokens = [], iter(requirements)
    for token in tokens:
        files = ("-r", "--requirement", "-c", "--constraint")
        lines.append(f"{token} {next(tokens, '')}" if token in files else token)
    wanted.write_text("\n".join(lines) + "\n")
    constraints = workdir / "yanked-constraints.txt"
    constraints.unlink(missing_ok=True)
    command = [uv_bin(), "pip", "compile", "--quiet", "--no-header", "--no-annotate"]
    command += ["--python", str(interpreter), *uv_resolution_args(spec), str(wanted)]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    if build_constraints(spec):
        (workdir / "build-constraints.txt").write_text("\n".join(build_constraints(spec)) + "\n")
        env["UV_BUILD_CONSTRAINT"] = str(workdir / "build-constraints.txt")
    for attempt in range(YANK_RETRIES + 1):
        if constraints.exists():
            env["UV_CONSTRAINT"] = str(constraints)
        proc = run(command, env)
        if proc.returncode == 0:
            return [line for line in proc.stdout.splitlines() if re.match(r"^[\w.-]+==", line)]
        retry = spec.exclude_newer and attempt < YANK_RETRIES
        if not (retry and add_pins(constraints, yanked_pins(proc.stderr))):
            break
    raise EnvBuildError(
        f"resolving for python {spec.python} (cutoff {spec.exclude_newer or 'none'}) "
        f"failed: {proc.stderr[-3000:]}"
    )
