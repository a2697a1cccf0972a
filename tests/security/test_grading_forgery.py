"""Attacks on grading: predictions that forge the evidence of a test run, change what
controls the test runner, or write into `.git`. Each scores unresolved (or is refused
before anything runs), is reported with a reason, and leaves the host unchanged, on the
local and the docker backend.

The task: `calc.add` subtracts; the test patch adds tests/test_add.py::test_add
(FAIL_TO_PASS), tests/test_calc.py::test_zero passes throughout (PASS_TO_PASS). Every
attack keeps the bug. The environment puts the repository on PYTHONPATH (as many real
installs do), so that a sitecustomize.py in it would run at interpreter start-up.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import attack_support  # noqa: F401  (sibling test packages on the path)
import pytest
from docker_fixtures import docker_backend, two_commit_env  # noqa: F401
from repo_builders import commit_files, diff_of, git

from swelego_ray.envs import Environment, EnvSpec, get_backend
from swelego_ray.evaluate import EvaluateConfig, EvaluationReport, run_evaluation
from swelego_ray.evidence import runner_control
from swelego_ray.harness import patch_and_test, start_task_sandbox
from swelego_ray.patching import PatchStep, apply_patches, files_in_patch
from swelego_ray.sandbox import Limits
from swelego_ray.schema import Task, write_tasks
from swelego_ray.storage import Store

F2P = "tests/test_add.py::test_add"
P2P = "tests/test_calc.py::test_zero"
BUGGY = "def add(a, b):\n    return a - b\n"
PYPROJECT = (
    '[project]\nname = "calc"\nversion = "0.1"\n\n'
    '[tool.pytest.ini_options]\nconsole_output_style = "classic"\n'
)
BASE = {
    "calc/__init__.py": BUGGY,
    "tests/test_calc.py": "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
    "pyproject.toml": PYPROJECT,
    "README.md": "calc\n",
}
SPEC = {
    "packages": ["pytest"],
    "install": [],
    "test_cmd": "python -m pytest -rA -p no:cacheprovider",
    "log_parser": "pytest",
    "env_vars": {"PYTHONPATH": "/testbed"},
}
ADD_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
HOOK_MARK = "/tmp/swelego-forgery-hook-ran"
HOOK = f"#!/bin/sh\ntouch {HOOK_MARK}\n"

# A pytest plugin that turns every failure into a pass (the classic conftest cheat).
TURN_FAILURES_INTO_PASSES = textwrap.dedent("""\
    import pytest


    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        report = outcome.get_result()
        if report.failed:
            report.outcome, report.longrepr = "passed", None
""")

# Code under test that prints PASSED for the graded tests past pytest's capture (to every
# pipe it holds), then ends the process with exit 0 before pytest reports anything.
FAKE_PASSES = BUGGY + textwrap.dedent(f"""\

    import os

    LINES = b"PASSED {F2P}\\nPASSED {P2P}\\n"
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                os.write(int(fd), LINES)
        except OSError:
            pass
    os._exit(0)
""")

# Code under test that hunts for the run's secret where a nonce used to be readable
# (command lines, environments, standard input of other processes, files), then forges
# markers, PASSED lines and signed records with every candidate, and exits 0. It does
# not read process memory: that residual risk is documented, not defended.
SECRET_HUNT = BUGGY + textwrap.dedent(f"""\

    import glob
    import hashlib
    import hmac
    import json
    import os
    import re

    TOKEN = re.compile(rb"\\b[0-9a-f]{{16,64}}\\b")


    def _read(path, limit=1 << 20):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return b""
        try:
            return os.read(fd, limit)
        except OSError:
            return b""
        finally:
            os.close(fd)


    def _sources():
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for what in ("cmdline", "environ", "fd/0", "fd/3"):
                yield _read(f"/proc/{{pid}}/{{what}}")
        for root in ("/tmp", "/var/tmp", "/testbed"):
            for dirpath, dirs, files in os.walk(root):
                if "objects" in dirs:
                    dirs.remove("objects")
                for name in files:
                    yield _read(os.path.join(dirpath, name), 1 << 16)


    def _say(data):
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{{fd}}").startswith("pipe:"):
                    os.write(int(fd), data)
            except OSError:
                pass


    def _record(key, seq, status, name):
        msg = f"{{seq}}\\0{{status}}\\0{{name}}".encode()
        mac = hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()[:32]
        return f"{{seq}} {{status}} {{mac}} {{json.dumps(name)}}\\n"


    found = sorted({{m.decode() for blob in _sources() for m in TOKEN.findall(blob)}})
    _say(("CANDIDATES " + " ".join(found) + "\\n").encode())
    for key in found:
        forged = [(1, "PASSED", "{F2P}"), (2, "PASSED", "{P2P}"), (3, "END", "0")]
        for path in glob.glob("/tmp/.swelego-run-*/records"):
            with open(path, "a") as out:
                out.write("".join(_record(key, *r) for r in forged))
        _say(f"PASSED {F2P}\\n\\n>>>>> SWELEGO TESTS END {{key}} exit=0\\n".encode())
    os._exit(0)
""")

# Run at interpreter start-up from the repository (PYTHONPATH): loads the cheat plugin
# before pytest starts, and shows that it ran.
SITECUSTOMIZE = textwrap.dedent("""\
    import os

    os.environ["PYTEST_PLUGINS"] = "cheat"
    os.write(2, b"SITECUSTOMIZE RAN\\n")
""")


def _symlink_hook_patch() -> str:
    """A symlink to .git, then a hook written through it: `git apply` refuses the second
    part ("beyond a symbolic link"), GNU patch --fuzz would follow it into .git/hooks."""
    return (
        "diff --git a/lnk b/lnk\nnew file mode 120000\n--- /dev/null\n+++ b/lnk\n"
        "@@ -0,0 +1 @@\n+.git\n\\ No newline at end of file\n"
        "diff --git a/lnk/hooks/post-checkout b/lnk/hooks/post-checkout\n"
        "new file mode 100755\n--- /dev/null\n+++ b/lnk/hooks/post-checkout\n"
        f"@@ -0,0 +1,2 @@\n+{HOOK.splitlines()[0]}\n+{HOOK.splitlines()[1]}\n"
    )


def _plain_hook_patch() -> str:
    """A plain unified diff (no git header) aiming at .git/hooks: `git apply` refuses the
    path, the old `patch --fuzz` fallback wrote it."""
    return (
        "--- a/.git/hooks/post-checkout\n+++ b/.git/hooks/post-checkout\n"
        f"@@ -0,0 +1,2 @@\n+{HOOK.splitlines()[0]}\n+{HOOK.splitlines()[1]}\n"
    )


def _git_hook_patch(fix: str) -> str:
    """The real fix plus a new .git/hooks/post-checkout in git's own format."""
    return fix + (
        "diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout\n"
        "new file mode 100755\n--- /dev/null\n+++ b/.git/hooks/post-checkout\n"
        f"@@ -0,0 +1,2 @@\n+{HOOK.splitlines()[0]}\n+{HOOK.splitlines()[1]}\n"
    )


class Scenario:
    """The repository, one task per attack, and the predictions file."""

    def __init__(self, root: Path) -> None:
        self.repos = root / "repos"
        self.repo = self.repos / "acme__forge"
        self.base = commit_files(self.repo, BASE, "base with the bug")
        at = lambda files: diff_of(self.repo, self.base, files)  # noqa: E731
        self.test_patch = at({"tests/test_add.py": ADD_TEST})
        self.fix = at({"calc/__init__.py": BUGGY.replace("a - b", "a + b")})
        cheat = {"cheat.py": TURN_FAILURES_INTO_PASSES}
        pytest_opts = PYPROJECT.replace(
            'console_output_style = "classic"',
            'console_output_style = "classic"\naddopts = "-p cheat"',
        )
        self.predictions = {
            "gold": self.fix,
            "gold_pyproject": at(
                {
                    "calc/__init__.py": BUGGY.replace("a - b", "a + b"),
                    "pyproject.toml": PYPROJECT.replace('"0.1"', '"0.2"'),
                }
            ),
            "fake_passed": at({"calc/__init__.py": FAKE_PASSES}),
            "secret_hunt": at({"calc/__init__.py": SECRET_HUNT}),
            "conftest": at({"tests/conftest.py": TURN_FAILURES_INTO_PASSES}),
            "pytest_ini": at({"pytest.ini": "[pytest]\naddopts = -p cheat\n", **cheat}),
            "pyproject": at({"pyproject.toml": pytest_opts, **cheat}),
            "sitecustomize": at({"sitecustomize.py": SITECUSTOMIZE, **cheat}),
            "git_hook": _git_hook_patch(self.fix),
            "fuzz_symlink": _symlink_hook_patch(),
            "fuzz_plain": _plain_hook_patch(),
        }
        self.tasks = [self.task(name) for name in self.predictions]
        self.tasks_file = write_tasks(self.tasks, root / "tasks.jsonl")
        self.predictions_file = root / "predictions.jsonl"
        self.predictions_file.write_text(
            "".join(
                json.dumps({"instance_id": f"acme__forge-{n}", "model_patch": p}) + "\n"
                for n, p in self.predictions.items()
            )
        )
        self.host_before = self.host_state()

    def task(self, name: str) -> Task:
        return Task(
            instance_id=f"acme__forge-{name}",
            repo="acme/forge",
            base_commit=self.base,
            patch=self.fix,
            test_patch=self.test_patch,
            env_spec=SPEC,
            FAIL_TO_PASS=[F2P],
            PASS_TO_PASS=[P2P],
        )

    def host_state(self) -> dict[str, object]:
        """What the attacks could change on the host: the source repository (work tree,
        refs, hooks) and the hook's marker file."""
        hooks = sorted(p.name for p in (self.repo / ".git/hooks").iterdir())
        return {
            "status": git(self.repo, "status", "--porcelain", "--ignored"),
            "head": git(self.repo, "rev-parse", "HEAD"),
            "refs": git(self.repo, "for-each-ref"),
            "hooks": hooks,
            "marker": Path(HOOK_MARK).exists(),
        }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    return Scenario(tmp_path_factory.mktemp("forgery"))


@pytest.fixture(scope="module")
def local_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("forgery-cache")


def _evaluate(scenario: Scenario, out: Path, **options: object) -> EvaluationReport:
    return run_evaluation(
        EvaluateConfig(
            tasks=str(scenario.tasks_file),
            predictions=str(scenario.predictions_file),
            repos_dir=str(scenario.repos),
            out=str(out),
            in_process=True,
            workers=1,
            progress=False,
            timeout_s=600,
            limits=Limits(timeout_s=60, memory_mb=1024),
            **options,  # type: ignore[arg-type]
        )
    )


def _output(out: Path, name: str) -> str:
    store = Store(str(out))
    keys = [k for k in store.list(f"evaluate/acme__forge-{name}") if k.endswith("test_output.txt")]
    return store.read_bytes(keys[0]).decode() if keys else ""


def _check(scenario: Scenario, report: EvaluationReport, out: Path) -> None:
    by_id = {r.instance_id.removeprefix("acme__forge-"): r.report for r in report.results}
    reasons = {k: (v.reason or "") for k, v in by_id.items()}
    # the controls: the fix resolves, also with a change outside pyproject's pytest settings
    assert by_id["gold"].resolved and not by_id["gold"].tampering, by_id["gold"]
    assert by_id["gold_pyproject"].resolved, by_id["gold_pyproject"]
    assert not by_id["gold_pyproject"].tampered_files
    for name in scenario.predictions:
        if not name.startswith("gold"):
            assert not by_id[name].resolved, (name, by_id[name])
            assert reasons[name], name
    # forged evidence: the log claims passes, the signed records do not
    assert "PASSED tests/test_add.py::test_add" in _output(out, "fake_passed")
    assert reasons["fake_passed"] == "evidence_missing", by_id["fake_passed"].detail
    hunt = _output(out, "secret_hunt")
    secret = re.search(r">>>>> SWELEGO TESTS START ([0-9a-f]+)", hunt).group(1)  # type: ignore[union-attr]
    candidates = re.search(r"^CANDIDATES (.*)$", hunt, re.MULTILINE)
    assert candidates is not None, hunt[-2000:]
    assert secret not in candidates.group(1).split(), "the secret was readable in the sandbox"
    assert reasons["secret_hunt"] == "log_tampered", by_id["secret_hunt"].detail
    # runner-control files: restored before the run, reported as tampering
    for name, files in {
        "conftest": ["tests/conftest.py"],
        "pytest_ini": ["pytest.ini"],
        "pyproject": ["pyproject.toml"],
        "sitecustomize": ["sitecustomize.py"],
    }.items():
        assert by_id[name].tampered_files == files, (name, by_id[name])
        assert reasons[name] == "tests_failed", (name, by_id[name].detail)
        assert by_id[name].FAIL_TO_PASS.failure == [F2P]
    assert "SITECUSTOMIZE RAN" not in _output(out, "sitecustomize")
    assert sorted(report.tampered_ids) == sorted(
        f"acme__forge-{n}" for n in ("conftest", "pytest_ini", "pyproject", "sitecustomize")
    )
    assert (
        "runner-control files restored: tests/conftest.py"
        in report.tampering["acme__forge-conftest"]
    )
    assert "tampering 4" in (out / "report.md").read_text()
    # patches aiming at .git: refused before anything ran
    for name in ("git_hook", "fuzz_symlink", "fuzz_plain"):
        assert reasons[name] == "patch_apply_failed", (name, by_id[name])
        assert "would write inside .git" in by_id[name].detail, by_id[name].detail
    # nothing on the host changed
    assert scenario.host_state() == scenario.host_before


@pytest.mark.slow
def test_forgery_attacks_local(scenario: Scenario, local_cache: Path, tmp_path: Path):
    out = tmp_path / "out"
    report = _evaluate(
        scenario,
        out,
        backend={"kind": "local", "cache_root": str(local_cache)},
        cache_root=str(local_cache),
    )
    _check(scenario, report, out)


@pytest.mark.docker
@pytest.mark.slow
def test_forgery_attacks_docker(scenario: Scenario, docker_engine, tmp_path: Path):
    out = tmp_path / "out"
    report = _evaluate(
        scenario, out, backend={"kind": "docker", **docker_engine.model_dump(mode="json")}
    )
    _check(scenario, report, out)


def _without_restore(scenario: Scenario, cache: Path, name: str) -> str:
    """The attack `name` run by the harness with only the test patch's files reset (what
    the harness did before runner-control files were restored); the test output."""
    task = scenario.task(name)
    env_spec = EnvSpec.model_validate(SPEC)
    env = Environment(
        repo="acme/forge", commit=scenario.base, source=str(scenario.repo), spec=env_spec
    )
    backend = get_backend("local", cache_root=cache)
    backend.prepare(env)
    sandbox, _ = start_task_sandbox(backend, env, task, Limits(timeout_s=60), [])
    with sandbox:
        steps = [
            PatchStep(name="model_patch", patch=scenario.predictions[name]),
            PatchStep(
                name="test_patch", patch=task.test_patch, reset=files_in_patch(task.test_patch)
            ),
        ]
        command = f"{SPEC['test_cmd']} tests/test_add.py tests/test_calc.py"
        applied, run = patch_and_test(sandbox, steps, command, timeout_s=60, parser="pytest")
    assert all(a.ok for a in applied) and run is not None
    return run.output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["conftest", "pytest_ini", "pyproject", "sitecustomize"])
def test_the_runner_control_cheats_work_when_not_restored(scenario, local_cache, name):
    """The control for the restoring: left in place, each cheat reports the failing test
    as passed (in the signed records too: it rewrites pytest's own reports)."""
    output = _without_restore(scenario, local_cache, name)
    assert re.search(rf'^\d+ PASSED [0-9a-f]+ "{re.escape(F2P)}"$', output, re.MULTILINE), output
    control = runner_control(scenario.predictions[name])
    assert control.check if name == "pyproject" else control.restore


def _plant_hooks(sandbox) -> None:
    """What a patch or build that got into .git would leave: a post-checkout hook and an
    fsmonitor command, both touching a marker file."""
    script = (
        f"mkdir -p .git/hooks && printf '%s' {shlex.quote(HOOK)} > .git/hooks/post-checkout && "
        "chmod +x .git/hooks/post-checkout && "
        f"git config core.fsmonitor 'touch {HOOK_MARK}.fsmonitor; false'"
    )
    assert sandbox.exec(script).exit_code == 0


README_PATCH = (
    "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
    "@@ -1 +1 @@\n-{old}\n+patched\n"
)


def _harness_git_runs_no_hook(sandbox, readme: str) -> None:
    _plant_hooks(sandbox)
    steps = [
        PatchStep(name="p", patch=README_PATCH.format(old=readme)),
        PatchStep(name="t", patch="", reset=["README.md"]),  # `git checkout HEAD -- README.md`
    ]
    assert all(a.ok for a in apply_patches(sandbox, steps))
    sandbox.diff()
    ran = sandbox.exec(f"ls {HOOK_MARK}* 2>/dev/null").output.split()
    assert ran == [], f"the harness's git ran {ran}"
    # the control: plain git in the same sandbox does run them
    sandbox.exec("git checkout -q HEAD -- README.md; git status --porcelain >/dev/null")
    ran = sandbox.exec(f"ls {HOOK_MARK}* 2>/dev/null").output.split()
    assert HOOK_MARK in ran, "the planted hook is not live: the check above proves nothing"
    assert not Path(HOOK_MARK).exists()


@pytest.fixture(scope="module")
def plain_local(tmp_path_factory, local_cache):
    repo = tmp_path_factory.mktemp("forgery-plain") / "plain"
    sha = commit_files(repo, {"README.md": "hello\n"}, "c")
    env = Environment(
        repo="t/forgery-plain", commit=sha, source=str(repo), spec=EnvSpec(install=[])
    )
    backend = get_backend("local", cache_root=local_cache)
    backend.prepare(env)
    return backend, env


def test_harness_git_runs_no_hook_local(plain_local):
    backend, env = plain_local
    with backend.start(env) as sandbox:
        _harness_git_runs_no_hook(sandbox, "hello")


@pytest.mark.docker
def test_harness_git_runs_no_hook_docker(docker_backend, two_commit_env):  # noqa: F811
    env, _shas = two_commit_env
    with docker_backend.start(env) as sandbox:
        readme = sandbox.read_file("README.md").rstrip("\n")
        _harness_git_runs_no_hook(sandbox, readme)


def test_refused_patch_touches_nothing(plain_local):
    """A sequence whose second patch aims at .git: the first applies, the second is
    refused with its reason, nothing is written into .git."""
    backend, env = plain_local
    with backend.start(env) as sandbox:
        steps = [
            PatchStep(name="model_patch", patch=README_PATCH.format(old="hello")),
            PatchStep(name="evil", patch=_symlink_hook_patch()),
        ]
        results = apply_patches(sandbox, steps)
        assert [r.ok for r in results] == [True, False]
        assert "evil refused: it would write inside .git (symlink to .git)" in results[1].reason
        assert sandbox.exec("test -e .git/hooks/post-checkout || test -e lnk").exit_code == 1
        assert sandbox.read_file("README.md") == "patched\n"
    assert not Path(HOOK_MARK).exists()
    assert git(Path(env.source), "status", "--porcelain") == ""
