"""Which EnvSpec a task runs in: its own, SWE-bench's, or one derived from the checkout."""

from __future__ import annotations

import configparser
import logging
import re
import tomllib
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from swelego_ray.envs._setup_files import git_reader, inline_setup_files
from swelego_ray.envs._spec import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs._swebench_specs import has_swebench_spec, swebench_spec
from swelego_ray.envs.interpreters import available_versions
from swelego_ray.envs.repos import cached_checkout, commit_date, is_url
from swelego_ray.envs.resolution import cutoff_for, python_out_by
from swelego_ray.schema import Task

logger = logging.getLogger(__name__)

PREFERRED_PYTHON = "3.11"
TEST_EXTRAS = ("test", "tests", "testing", "dev")
REQUIREMENT_FILES = (
    "requirements.txt",
    "requirements-dev.txt",
    "requirements_dev.txt",
    "dev-requirements.txt",
    "requirements-test.txt",
    "requirements_test.txt",
    "requirements-tests.txt",
    "test-requirements.txt",
    "test_requirements.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/dev.txt",
)


def spec_for(
    task: Task, checkout: Path | None = None, *, allow_system_steps: bool = False, as_of: str = ""
) -> EnvSpec:
    """task.env_spec if given; else SWE-bench's spec for (repo, version); else a default
    derived from `checkout` (the repository at the environment commit, dated `as_of`)."""
    if task.env_spec is not None:
        return task.env_spec
    if task.version and has_swebench_spec(task.repo, task.version):
        return swebench_spec(task.repo, task.version, allow_system_steps=allow_system_steps)
    if checkout is None:
        raise EnvBuildError(
            f"{task.instance_id}: no env_spec and no SWE-bench spec for {task.repo} "
            f"{task.version!r}; a checkout is needed to derive a default spec"
        )
    return default_spec(checkout, as_of=as_of)


# The task fields an environment depends on; tasks that agree on them share one.
_ENV_FIELDS = {
    "repo",
    "base_commit",
    "environment_setup_commit",
    "env_spec",
    "version",
    "created_at",
}
_ENVIRONMENTS: dict[tuple[str, str, str, bool, str], Environment] = {}
_ENVIRONMENTS_MAX = 4096


def environment_for(
    task: Task,
    source: str,
    cache_root: Path | None = None,
    *,
    allow_system_steps: bool = False,
    files_commit: str = "",
) -> Environment:
    """The Environment a task runs in (its environment_setup_commit, else its base commit);
    a task with created_at gets a resolution cutoff (envs/resolution.py) unless its
    env_spec sets one. `files_commit` (a SWE-bench task's environment_setup_commit, when
    the environment is built at its base commit): the spec's requirements / environment
    file is read as it is there, as SWE-bench's harness does (envs._setup_files), and the
    cutoff is that commit's. Worked out once per process for the fields it depends on
    (each costs host-side git calls: describe, commit date)."""
    key = (
        task.model_dump_json(include=_ENV_FIELDS),
        source,
        str(cache_root),
        allow_system_steps,
        files_commit,
    )
    env = _ENVIRONMENTS.get(key)
    if env is None:
        if len(_ENVIRONMENTS) >= _ENVIRONMENTS_MAX:
            _ENVIRONMENTS.clear()
        env = _ENVIRONMENTS[key] = _environment_for(
            task, source, cache_root, allow_system_steps, files_commit
        )
    return env


def _environment_for(
    task: Task, source: str, cache_root: Path | None, allow_system_steps: bool, files_commit: str
) -> Environment:
    commit = task.environment_setup_commit or task.base_commit
    checkout, as_of = None, ""
    if task.env_spec is None and not (task.version and has_swebench_spec(task.repo, task.version)):
        checkout = cached_checkout(task.repo, source, commit, cache_root)
        if task.created_at:  # historical: a derived spec of its time
            as_of = _environment_date(task, source, commit, cache_root) or task.created_at
    spec = spec_for(task, checkout, allow_system_steps=allow_system_steps, as_of=as_of)
    dated = commit
    if files_commit and files_commit != commit and task.env_spec is None and not is_url(source):
        inlined = inline_setup_files(spec, files_commit, git_reader(source, files_commit))
        if inlined is not spec:
            spec, dated = inlined, files_commit
    if task.created_at and not spec.exclude_newer:  # historical: resolve as it was then
        cutoff = _cutoff(task, source, dated, cache_root, spec.python)
        spec = spec.model_copy(update={"exclude_newer": cutoff})
    return Environment(repo=task.repo, commit=commit, source=source, spec=spec)


def _cutoff(task: Task, source: str, commit: str, cache_root: Path | None, python: str) -> str:
    """The environment's resolution cutoff (rule: envs/resolution.py)."""
    when = _environment_date(task, source, commit, cache_root)
    try:
        return cutoff_for(task.created_at, when, python)
    except EnvBuildError as err:
        raise EnvBuildError(f"{task.instance_id}: {err}") from err


def _environment_date(task: Task, source: str, commit: str, cache_root: Path | None) -> str | None:
    """The committer date of the environment's commit (None for a plain directory); a URL
    source is dated in the checkout its build uses anyway."""
    if is_url(source):
        checkout = cached_checkout(task.repo, source, commit, cache_root)
        return commit_date(str(checkout), checkout.name)
    return commit_date(source, commit)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise EnvBuildError(f"{path}: unreadable: {err}") from err


def _metadata(checkout: Path) -> tuple[str, set[str]]:
    """(requires-python specifier, optional-dependency names) from any of the three formats."""
    requires, extras = "", set()
    pyproject = checkout / "pyproject.toml"
    if pyproject.is_file():
        project = _read_toml(pyproject).get("project", {})
        requires = project.get("requires-python", "")
        extras |= set(project.get("optional-dependencies", {}))
    setup_cfg = checkout / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(setup_cfg.read_text())
        except configparser.Error as err:
            raise EnvBuildError(f"{setup_cfg}: unreadable: {err}") from err
        requires = requires or parser.get("options", "python_requires", fallback="").strip()
        if parser.has_section("options.extras_require"):
            extras |= set(parser.options("options.extras_require"))
    setup_py = checkout / "setup.py"
    if setup_py.is_file():
        text = setup_py.read_text(errors="replace")
        match = re.search(r"python_requires\s*=\s*['\"]([^'\"]+)['\"]", text)
        requires = requires or (match.group(1) if match else "")
        extras |= {name for name in TEST_EXTRAS if re.search(rf"['\"]{name}['\"]\s*:", text)}
    return requires, extras


def pick_python(requires: str, available: list[str] | None = None, *, as_of: str = "") -> str:
    """3.11 if `requires` allows it, else the newest available version it allows. For an
    environment dated `as_of` (its commit's date) before 3.11 had been out
    (resolution.python_out_by): the newest allowed version out by then, else the oldest
    allowed Python 3."""
    versions = available if available is not None else available_versions()
    try:
        allowed = SpecifierSet(requires)
    except InvalidSpecifier as err:
        raise EnvBuildError(f"requires-python {requires!r} is not a valid specifier") from err
    fits = [v for v in versions if Version(f"{v}.999") in allowed or Version(v) in allowed]
    if not fits:
        raise EnvBuildError(f"no available Python satisfies requires-python {requires!r}")
    if as_of and not python_out_by(PREFERRED_PYTHON, as_of):
        python3 = [v for v in fits if v.startswith("3.")] or fits
        then = [v for v in python3 if python_out_by(v, as_of)]
        return max(then, key=Version) if then else min(python3, key=Version)
    if PREFERRED_PYTHON in fits:
        return PREFERRED_PYTHON
    return max(fits, key=Version)


def default_spec(checkout: Path, *, as_of: str = "") -> EnvSpec:
    """A spec from the checkout's packaging files: interpreter from requires-python, the
    test/dev extras and requirement files installed, pytest as the test command. A
    checkout dated `as_of` (its commit's date) from before Python 3.11 had been out gets
    the Python and the pytest of its time (pick_python; pytest resolved under the
    environment's cutoff, as its code was tested then: today's pytest lacks internals old
    conftests import): old code often does not run on today's versions."""
    checkout = Path(checkout)
    requires, extras = _metadata(checkout)
    python = pick_python(requires, as_of=as_of)
    of_its_time = bool(as_of) and not python_out_by(PREFERRED_PYTHON, as_of)
    wanted = [name for name in TEST_EXTRAS if name in extras]
    pre_install = [
        f"python -m pip install -r {name}"
        for name in REQUIREMENT_FILES
        if (checkout / name).is_file()
    ]
    installable = any((checkout / f).is_file() for f in ("pyproject.toml", "setup.py", "setup.cfg"))
    target = f"'.[{','.join(wanted)}]'" if wanted else "."
    spec = EnvSpec(
        python=python,
        # a version specifier opts out of "today's pytest" (resolution.cutoff_exempt);
        # from 3.0 on pytest has its `pytest` command
        packages=["pytest>=3.0" if of_its_time else "pytest"],
        pre_install=pre_install,
        install=[f"python -m pip install -e {target}"] if installable else [],
        test_cmd="pytest -rA",
        log_parser="pytest",
    )
    logger.debug("default spec for %s: %s", checkout, spec)
    return spec
