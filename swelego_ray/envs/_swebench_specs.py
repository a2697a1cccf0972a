"""SWE-bench's per-repo/version specs (swebench 4.x), translated into EnvSpec.

SWE-bench builds conda environments in Docker images; the local backend builds a venv. The
common cases translate one to one (python version, pip/conda package lists, requirements
files in the checkout, sed-style pre_install steps, install and test commands, exported
variables). A conda environment.yml is installed with pip from the same file
(envs._conda_yml: conda names mapped, conda-only libraries left out and named in the build
log). What needs a system package manager (apt-get, wget, locale-gen) is refused with an
EnvBuildError naming the repo and version, unless the caller allows system steps (the
docker backend runs them as root in its image).

swebench's package __init__ imports heavy optional dependencies, so the two data modules
used here are loaded from their files directly; nothing else of swebench is imported.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from swelego_ray.envs._spec import EnvBuildError, EnvSpec
from swelego_ray.sandbox import VENV

# the conda environment.yml reader, run by the build step on the environment's interpreter
CONDA_YML_PROGRAM = (Path(__file__).parent / "_conda_yml.py").read_text()

_SYSTEM_STEP = re.compile(r"\b(apt-get|apt|wget|curl|locale-gen|yum|dnf|conda)\b|/etc/")
_EXPORT = re.compile(r"^export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_IGNORED_KEYS = {"execute_test_as_nonroot", "no_use_env", "nano_cpus"}  # docker-only knobs
_KNOWN_KEYS = {"python", "packages", "pip_packages", "pre_install", "install", "test_cmd"}


def _swebench_file(relative: str) -> Path:
    spec = importlib.util.find_spec("swebench")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise EnvBuildError(
            "the swebench package (4.x, for its per-repository specs and log parsers) is not "
            "installed: pip install 'swelego-ray[swebench]' (or scripts/setup.sh)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise EnvBuildError(f"swebench has no {relative}; swebench 4.x ships the env specs")
    return path


@cache
def _constants() -> ModuleType:
    path = _swebench_file("harness/constants/python.py")
    module_spec = importlib.util.spec_from_file_location("_swelego_swebench_constants", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)  # plain dict literals, no imports
    return module


@cache
def _parser_names() -> dict[str, str]:
    """repo -> SWE-bench log parser name (parse_log_X aliases resolved, prefix dropped)."""
    text = _swebench_file("harness/log_parsers/python.py").read_text()
    aliases = dict(re.findall(r"^(parse_log_\w+) = (parse_log_\w+)$", text, re.MULTILINE))
    table = re.search(r"MAP_REPO_TO_PARSER_PY = \{(.*?)\}", text, re.DOTALL)
    names: dict[str, str] = {}
    for repo, func in re.findall(r'"([^"]+)":\s*(parse_log_\w+)', table.group(1) if table else ""):
        while func in aliases:
            func = aliases[func]
        names[repo] = func.removeprefix("parse_log_")
    return names


def swebench_specs() -> dict[str, dict[str, dict[str, Any]]]:
    """SWE-bench's MAP_REPO_VERSION_TO_SPECS for Python repositories."""
    return _constants().MAP_REPO_VERSION_TO_SPECS_PY


def has_swebench_spec(repo: str, version: str) -> bool:
    try:
        return version in swebench_specs().get(repo, {})
    except EnvBuildError:
        return False


# SWE-bench drops requirement lines installing the package itself (`install` does that
# later) and comments: one pattern for the build step (grep -E) and the wheelhouse (re).
REQUIREMENTS_DROP = r"^\s*(-e \.|\.\[test|#)"
_FILTERED = ".swelego-requirements.txt"
_CANDIDATE = re.compile(r"\[ -f (\S+) \]; then req=")

# A requirement on a version-control URL (flask 2.0's requirements/dev.txt:
# git+https://github.com/sphinx-doc/sphinx.git@96dbe5e3) cannot be fetched where builds
# reach only the package index: it is installed by its name from the index instead (the
# `#egg=` name, the PEP 508 `name @ url` name, else the URL's last path segment without
# `.git`), under the environment's cutoff like every other unpinned requirement, and the
# build log says so. One sed program for the build step (GNU sed: `tx;:x` clears the flag
# `t` tests), its twin in Python (vcs_as_name) for the wheelhouse; tests/envs check that
# they agree.
_VCS = r"(git|hg|svn|bzr)\+"
_EDITABLE = r"(-e[[:space:]]+|--editable[[:space:]]+)?"
VCS_SED = (
    r"s/^[[:space:]]*([A-Za-z0-9][A-Za-z0-9._-]*(\[[^]]*\])?)[[:space:]]*@[[:space:]]*"
    rf"{_VCS}.*$/\1/;t;"
    rf"/^[[:space:]]*{_EDITABLE}{_VCS}/{{s/[[:space:]]+#.*$//;tx;:x;"
    r"s/^.*#egg=([A-Za-z0-9._-]+).*$/\1/;t;"
    r"s/^[^@#]*\/([^/@#[:space:]]+)(@[^#]*)?$/\1/;s/\.git$//;}"
)
_VCS_NOTE = (
    rf"^[[:space:]]*([A-Za-z0-9._-]+(\[[^]]*\])?[[:space:]]*@[[:space:]]*|{_EDITABLE}){_VCS}"
)
_PEP508_VCS = re.compile(rf"^\s*([A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?)\s*@\s*{_VCS}")
_VCS_URL = re.compile(rf"^\s*(-e\s+|--editable\s+)?{_VCS}")
_EGG = re.compile(r"#egg=([A-Za-z0-9._-]+)")
_LAST_SEGMENT = re.compile(r"^[^@#]*/([^/@#\s]+)(@[^#]*)?$")


def vcs_as_name(line: str) -> str:
    """`line` with a version-control URL requirement replaced by its package name (see
    VCS_SED); any other line unchanged."""
    if match := _PEP508_VCS.match(line):
        return match.group(1)
    if not _VCS_URL.match(line):
        return line
    line = re.sub(r"\s+#.*$", "", line)
    if egg := _EGG.search(line):
        return egg.group(1)
    if last := _LAST_SEGMENT.match(line):
        return last.group(1).removesuffix(".git")
    return line


def _pick_file(paths: list[str], what: str) -> str:
    """Shell: `req` is the first of `paths` that exists in the checkout, else exit 1."""
    branches = [f"[ -f {shlex.quote(p)} ]; then req={shlex.quote(p)}" for p in paths]
    missing = f"echo 'no {what} file among: {' '.join(paths)}' >&2; exit 1"
    return f"if {'; elif '.join(branches)}; else {missing}; fi; "


def install_file_tail(yml: bool) -> str:
    """Shell: install the requirements file `$req` (an environment.yml when `yml`) as
    SWE-bench does, through the filtered copy `$f` (_FILTERED marks the step)."""
    if yml:
        convert = f'python -c {shlex.quote(CONDA_YML_PROGRAM)} "$req" > "$f" || exit 1; '
    else:
        # `|| true`: grep exits 1 when it selects no line, which a `set -e -o pipefail`
        # script (the docker image's set-up) would take for a failed step
        convert = (
            f'grep -v -E {shlex.quote(REQUIREMENTS_DROP)} "$req" '
            f'| sed -E {shlex.quote(VCS_SED)} > "$f" || true; '
            f'grep -E {shlex.quote(_VCS_NOTE)} "$req" | sed "s/^/swelego: from the index by '
            'name, not fetched (no network but the package index): /" >&2 || true; '
        )
    return convert + 'python -m pip install -r "$f"; rc=$?; rm -f "$f"; exit $rc'


def _packages_file_step(repo: str, *, yml: bool) -> str:
    """SWE-bench's `packages: requirements.txt` (pip) or `packages: environment.yml` (conda
    env update, as pip requirements: envs._conda_yml, run on the environment's
    interpreter) from the first candidate file of the repository's map."""
    constants = _constants()
    table = constants.MAP_REPO_TO_ENV_YML_PATHS if yml else constants.MAP_REPO_TO_REQS_PATHS
    name = "environment.yml" if yml else "requirements.txt"
    paths = table.get(repo)
    if not paths:
        raise EnvBuildError(f"{repo}: spec says packages={name} but names no file")
    return (
        _pick_file(paths, "environment" if yml else "requirements")
        + f'f="$(dirname "$req")/{_FILTERED}"; '
        + install_file_tail(yml=yml)
    )


def requirements_step_candidates(command: str) -> list[str] | None:
    """The files a `_packages_file_step` command picks from (the first that exists), or
    None if `command` is not such a step."""
    if _FILTERED not in command:
        return None
    return [shlex.split(c)[0] for c in _CANDIDATE.findall(command)]


# The installers SWE-bench's images have (built before these releases), first in every
# translated spec, so they are part of its key: a pip that still falls back to
# `setup.py develop` for an editable install whose build backend lacks PEP 660's
# build_editable (pip 25.3 removed that; pylint 2.15 commits pin setuptools~=62.6, which
# has no such hook: `pip install -e .` failed), and a setuptools whose pkg_resources warns
# with a DeprecationWarning, not the UserWarning of 80.9+ that a `-W error` test run turns
# into a failure (pytest-dev__pytest-11148). A spec's own later pin still wins.
INSTALLERS_STEP = "python -m pip install 'pip<25.3' 'setuptools<80.9'"


def translate(
    repo: str, version: str, raw: dict[str, Any], *, allow_system_steps: bool = False
) -> EnvSpec:
    """One SWE-bench spec dict as an EnvSpec (see the module docstring for what is refused)."""
    where = f"{repo} {version}"
    unknown = set(raw) - _KNOWN_KEYS - _IGNORED_KEYS - {"eval_commands"}
    if unknown:
        raise EnvBuildError(f"{where}: unsupported SWE-bench spec fields {sorted(unknown)}")
    if "test_cmd" not in raw:
        raise EnvBuildError(f"{where}: the SWE-bench spec has no test_cmd")
    packages: list[str] = []
    pre_install: list[str] = [INSTALLERS_STEP]
    declared = raw.get("packages", "") or ""
    if declared == "environment.yml":
        pre_install.append(_packages_file_step(repo, yml=True))
    elif declared == "requirements.txt":
        pre_install.append(_packages_file_step(repo, yml=False))
    else:
        packages = shlex.split(declared)
    if raw.get("pip_packages"):
        pre_install.append("python -m pip install " + shlex.join(raw["pip_packages"]))
    steps = list(raw.get("pre_install", []))
    system = [s for s in steps if _SYSTEM_STEP.search(s)]
    if system and not allow_system_steps:
        raise EnvBuildError(
            f"{where}: pre_install needs system packages ({system[0][:80]!r}); "
            "use the docker backend or an explicit env_spec"
        )
    pre_install += steps
    env_vars: dict[str, str] = {}
    for command in raw.get("eval_commands", []):
        match = _EXPORT.match(command.strip())
        if match:
            env_vars[match.group(1)] = " ".join(shlex.split(match.group(2)))
        elif not allow_system_steps:
            raise EnvBuildError(f"{where}: unsupported eval command {command[:80]!r}")
    install = [raw["install"]] if raw.get("install") else []
    install += current_env_shims(raw["test_cmd"], str(raw["python"]))
    return EnvSpec(
        python=str(raw["python"]),
        packages=packages,
        pre_install=pre_install,
        install=install,
        test_cmd=raw["test_cmd"],
        log_parser=_parser_names().get(repo, "pytest"),
        env_vars=env_vars,
    )


_CURRENT_ENV = re.compile(r"\btox\b.*--current-env.*?\s-e\s*([\w.-]+)")


def current_env_shims(test_cmd: str, python: str) -> list[str]:
    """The build step a `tox --current-env -e ENV` test command needs in a venv (SWE-bench's
    sphinx >= 3.4 specs). tox-current-env links `.tox/ENV/bin/python` to the interpreter
    running tox; SWE-bench's is a conda one, ours the venv's `bin/python`, itself a link,
    and Python reached through a link from outside its venv does not see the venv (its
    pyvenv.cfg is looked up beside the link). The plugin keeps what exists there, so the
    step puts small scripts that exec the venv's interpreter in place first."""
    match = _CURRENT_ENV.search(test_cmd)
    if match is None:
        return []
    bindir = f".tox/{match.group(1)}/bin"
    names = " ".join(f"python{suffix}" for suffix in ("", python.split(".")[0], python))
    script = f'#!/bin/sh\nexec {VENV}/bin/python "$@"\n'
    return [
        f"mkdir -p {bindir} && for n in {names}; do printf '%s' {shlex.quote(script)} "
        f"> {bindir}/$n && chmod +x {bindir}/$n; done"
    ]


def swebench_spec(repo: str, version: str, *, allow_system_steps: bool = False) -> EnvSpec:
    """The EnvSpec SWE-bench uses for `repo` at `version` (EnvBuildError if none/unsupported)."""
    versions = swebench_specs().get(repo)
    if versions is None:
        raise EnvBuildError(f"{repo}: not a SWE-bench repository")
    if version not in versions:
        raise EnvBuildError(f"{repo}: no SWE-bench spec for version {version!r}")
    return translate(repo, version, versions[version], allow_system_steps=allow_system_steps)
