"""Runner-control files: what in a prediction could change how the tests run or how their
results are reported, rather than the code under test.

- always, when a prediction touches them (created, changed, deleted or renamed):
  `conftest.py` anywhere, `pytest.ini` / `.pytest.ini` / `pytest.toml`, `sitecustomize.py` /
  `usercustomize.py`, `*.pth` files, and a new module at the repository root named like one
  the interpreter or pytest imports at start-up (under `python -m pytest` the root comes
  first on sys.path, so it would replace that module), and anything under a `.tox/`
  directory (where `tox --current-env` finds the interpreter it runs the tests with);
- when their test-run settings differ from HEAD: `tox.ini` ([pytest], [tox], [testenv*]),
  `setup.cfg` ([tool:pytest], [pytest]) and `pyproject.toml` ([tool.pytest]); a change
  elsewhere in those files (dependencies, other tools) is fine.

Not covered (residual): modules that a configuration at HEAD already loads as pytest
plugins, and any code imported into the test process, are code under test; code written
against this harness can still change results from there (see swelego_ray.evidence).

The harness puts these back as they are at HEAD before the test patch and the run (through
PatchStep.reset) and reports them as tampering.
"""

from __future__ import annotations

import configparser
import sys
import tomllib
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.patching import file_changes

ALWAYS_NAMES = frozenset(
    {"conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml"}
)
STARTUP_HOOK_NAMES = frozenset({"sitecustomize.py", "usercustomize.py"})
SETTINGS_NAMES = frozenset({"tox.ini", "setup.cfg", "pyproject.toml"})
INI_SECTIONS = ("pytest", "tool:pytest")
# What pytest (and its plugins) import at start-up, besides the standard library.
PYTEST_STARTUP_MODULES = frozenset(
    {
        "pytest",
        "_pytest",
        "py",
        "pluggy",
        "iniconfig",
        "packaging",
        "attr",
        "attrs",
        "tomli",
        "exceptiongroup",
        "colorama",
        "more_itertools",
        "atomicwrites",
        "six",
        "importlib_metadata",
        "zipp",
        "typing_extensions",
        "wcwidth",
        "pkg_resources",
        "setuptools",
        "_distutils_hack",
        "xdist",
        "execnet",
    }
)
_MODULE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd")


class RunnerControl(BaseModel):
    """The runner-control files a patch touches."""

    model_config = ConfigDict(extra="forbid")

    restore: list[str] = Field(default_factory=list)  # always put back when touched
    check: list[str] = Field(default_factory=list)  # put back if their pytest settings differ


def _shadows_startup_module(path: str) -> bool:
    """A root-level module file or package `__init__` named like a start-up import."""
    parts = PurePosixPath(path).parts
    if len(parts) == 1:
        name = parts[0]
        if not name.endswith(_MODULE_SUFFIXES):
            return False
        module = name.split(".", 1)[0]
    elif len(parts) == 2 and parts[1].split(".", 1)[0] == "__init__":
        module = parts[0]
    else:
        return False
    return module in PYTEST_STARTUP_MODULES or module in sys.stdlib_module_names


def runner_control(patch: str) -> RunnerControl:
    """Classify the files `patch` touches (see the module docstring)."""
    out = RunnerControl()
    for change in file_changes(patch):
        for path in change.paths:
            name = PurePosixPath(path).name
            added = path != change.old  # not at HEAD under this name
            if (
                name in ALWAYS_NAMES
                or name in STARTUP_HOOK_NAMES
                or name.endswith(".pth")
                or ".tox" in PurePosixPath(path).parts[:-1]
                or (added and _shadows_startup_module(path))
            ):
                out.restore.append(path)
            elif name in SETTINGS_NAMES:
                out.check.append(path)
    out.restore = list(dict.fromkeys(out.restore))
    out.check = [p for p in dict.fromkeys(out.check) if p not in out.restore]
    return out


def _ini_sections(path: str, names: list[str]) -> list[str]:
    """The sections of an ini file that configure the test run: pytest's, and for tox.ini
    also tox's own (which name the test commands)."""
    if PurePosixPath(path).name != "tox.ini":
        return [n for n in names if n in INI_SECTIONS]
    return [n for n in names if n in INI_SECTIONS or n == "tox" or n.startswith("testenv")]


def _settings(path: str, text: str | None) -> tuple[bool, object]:
    """(parsed, the test-run settings) of one version of `path` (None: no such file)."""
    if text is None:
        return True, None
    if path.endswith(".toml"):
        try:
            tool = tomllib.loads(text).get("tool")
        except tomllib.TOMLDecodeError:
            return False, None
        return True, tool.get("pytest") if isinstance(tool, dict) else None
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return False, None
    return True, {s: dict(parser.items(s)) for s in _ini_sections(path, parser.sections())}


def pytest_settings_differ(path: str, before: str | None, after: str | None) -> bool:
    """Whether the test-run settings of `path` differ between HEAD (`before`) and the
    prediction (`after`); None means the file does not exist. A version that does not
    parse counts as different (pytest's own reader may see what this one cannot)."""
    if before == after:
        return False
    parsed_before, old = _settings(path, before)
    parsed_after, new = _settings(path, after)
    return not (parsed_before and parsed_after) or old != new
