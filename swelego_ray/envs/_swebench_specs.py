"""SWE-bench's per-repo/version specs (swebench 4.x), translated into EnvSpec.

SWE-bench builds conda environments in Docker images; the local backend builds a venv. The
common cases translate one to one (python version, pip/conda package lists, requirements
files in the checkout, sed-style pre_install steps, install and test commands, exported
variables). What needs a system package manager (apt-get, wget, locale-gen) or a conda
environment.yml is refused with an EnvBuildError naming the repo and version, unless the
caller allows system steps (the docker backend runs them as root in its image).

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

_SYSTEM_STEP = re.compile(r"\b(apt-get|apt|wget|curl|locale-gen|yum|dnf|conda)\b|/etc/")
_EXPORT = re.compile(r"^export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_IGNORED_KEYS = {"execute_test_as_nonroot", "no_use_env", "nano_cpus"}  # docker-only knobs
_KNOWN_KEYS = {"python", "packages", "pip_packages", "pre_install", "install", "test_cmd"}


def _swebench_file(relative: str) -> Path:
    spec = importlib.util.find_spec("swebench")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise EnvBuildError("the swebench package (4.x, for its specs) is not installed")
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


def _requirements_step(repo: str) -> str:
    paths = _constants().MAP_REPO_TO_REQS_PATHS.get(repo)
    if not paths:
        raise EnvBuildError(f"{repo}: spec says packages=requirements.txt but names no file")
    branches = [f"[ -f {shlex.quote(p)} ]; then req={shlex.quote(p)}" for p in paths]
    missing = f"echo 'no requirements file among: {' '.join(paths)}' >&2; exit 1"
    return (
        f"if {'; elif '.join(branches)}; else {missing}; fi; "
        f'f="$(dirname "$req")/{_FILTERED}"; '
        f'grep -v -E {shlex.quote(REQUIREMENTS_DROP)} "$req" > "$f"; '
        'python -m pip install -r "$f"; rc=$?; rm -f "$f"; exit $rc'
    )


def requirements_step_candidates(command: str) -> list[str] | None:
    """The files a `_requirements_step` command picks from (the first that exists), or
    None if `command` is not such a step."""
    if _FILTERED not in command:
        return None
    return [shlex.split(c)[0] for c in _CANDIDATE.findall(command)]


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
    pre_install: list[str] = []
    declared = raw.get("packages", "") or ""
    if declared == "environment.yml":
        raise EnvBuildError(
            f"{where}: conda environment.yml specs are not supported by the venv builder; "
            "give the task an explicit env_spec"
        )
    if declared == "requirements.txt":
        pre_install.append(_requirements_step(repo))
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
    install = raw.get("install", "")
    return EnvSpec(
        python=str(raw["python"]),
        packages=packages,
        pre_install=pre_install,
        install=[install] if install else [],
        test_cmd=raw["test_cmd"],
        log_parser=_parser_names().get(repo, "pytest"),
        env_vars=env_vars,
    )


def swebench_spec(repo: str, version: str, *, allow_system_steps: bool = False) -> EnvSpec:
    """The EnvSpec SWE-bench uses for `repo` at `version` (EnvBuildError if none/unsupported)."""
    versions = swebench_specs().get(repo)
    if versions is None:
        raise EnvBuildError(f"{repo}: not a SWE-bench repository")
    if version not in versions:
        raise EnvBuildError(f"{repo}: no SWE-bench spec for version {version!r}")
    return translate(repo, version, versions[version], allow_system_steps=allow_system_steps)
