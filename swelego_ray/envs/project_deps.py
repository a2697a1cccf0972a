"""A project's own dependencies, read statically from its packaging files.

The offline docker wheelhouse downloads, on the host, everything an image's install steps
will need; `pip install -e .` needs the project's dependencies too. Building the project's
metadata would run its setup.py on the host, outside any sandbox, so only declarations
that can be read without running code count: pyproject `[project]` dependencies and
optional dependencies, setup.cfg `install_requires` / `extras_require` (lists or `file:`
directives). A setup.py-only project contributes nothing (its image build then names what
is missing).
"""

from __future__ import annotations

import configparser
import logging
import re
import tomllib
from pathlib import Path

logger = logging.getLogger(__name__)

_LOCAL = re.compile(r"^\.(?:\[([\w,\s-]*)\])?$")


def local_target_extras(token: str) -> set[str] | None:
    """For a pip argument naming the project itself (`.`, `.[test,dev]`): its extras;
    None for anything else."""
    match = _LOCAL.match(token.strip("'\""))
    if match is None:
        return None
    return {e.strip() for e in (match.group(1) or "").split(",") if e.strip()}


def static_dependencies(checkout: Path, extras: set[str]) -> list[str]:
    """Requirement strings the project at `checkout` declares (with those `extras`)."""
    found: list[str] = []
    try:
        found += _pyproject(checkout / "pyproject.toml", extras)
        found += _setup_cfg(checkout / "setup.cfg", extras)
    except (OSError, ValueError, tomllib.TOMLDecodeError, configparser.Error) as err:
        logger.warning("%s: packaging metadata unreadable (%s); no dependencies", checkout, err)
        return []
    return list(dict.fromkeys(found))


def build_requirements(checkout: Path) -> list[str]:
    """The project's `[build-system] requires` (pyproject.toml): what an offline
    `pip install .` needs to build it (e.g. setuptools_scm); [] without a pyproject."""
    path = checkout / "pyproject.toml"
    try:
        if not path.is_file():
            return []
        requires = tomllib.loads(path.read_text()).get("build-system", {}).get("requires", [])
    except (OSError, ValueError, tomllib.TOMLDecodeError) as err:
        logger.warning("%s: build requirements unreadable (%s); none", path, err)
        return []
    return [r for r in requires if isinstance(r, str)]


def _pyproject(path: Path, extras: set[str]) -> list[str]:
    if not path.is_file():
        return []
    project = tomllib.loads(path.read_text()).get("project", {})
    deps = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in sorted(extras):
        deps += optional.get(extra, [])
    return [d for d in deps if isinstance(d, str)]


def _setup_cfg(path: Path, extras: set[str]) -> list[str]:
    if not path.is_file():
        return []
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(path.read_text())
    values = [parser.get("options", "install_requires", fallback="")]
    if parser.has_section("options.extras_require"):
        values += [
            parser.get("options.extras_require", extra, fallback="") for extra in sorted(extras)
        ]
    deps: list[str] = []
    for value in values:
        deps += _requirement_lines(value, path.parent)
    return deps


def _requirement_lines(value: str, root: Path) -> list[str]:
    """A setup.cfg list value: one requirement per line (or `;`-free comma list), comments
    dropped; `file: a.txt, b.txt` reads those files."""
    value = value.strip()
    if value.startswith("file:"):
        lines: list[str] = []
        for name in value[5:].split(","):
            lines += (root / name.strip()).read_text().splitlines()
    else:
        lines = value.splitlines()
        if len(lines) == 1 and ";" not in lines[0]:
            lines = lines[0].split(",")
    out = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(line)
    return out
