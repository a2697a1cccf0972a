"""Attacks on the run directory (`/tmp/.swelego-run-<id>`: the patches and the evidence
plugin, unpacked by one tar; the plugin's records, read back by a bounded shell builtin).

The code under test finds the run directory during the test run, puts something else where
the records file was (a FIFO that never gets data, a symlink to /dev/zero, a flood of
forged lines), prints PASSED lines for the graded tests and exits 0 with the bug kept.
Each run must end well within the test deadline (no hang on the FIFO), score unresolved
with a reason, and leave the host unchanged; the run directory itself must be private
(0700) and hold only the patches and the plugin.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import attack_support  # noqa: F401  (sibling test packages on the path)
import pytest
from repo_builders import commit_files, diff_of, git

from swelego_ray.evaluate import EvaluateConfig, EvaluationReport, run_evaluation
from swelego_ray.evidence import PLUGIN_MODULE
from swelego_ray.sandbox import Limits
from swelego_ray.schema import Task, write_tasks
from swelego_ray.storage import Store

F2P = "tests/test_add.py::test_add"
P2P = "tests/test_calc.py::test_zero"
BUGGY = "def add(a, b):\n    return a - b\n"
BASE = {
    "calc/__init__.py": BUGGY,
    "tests/test_calc.py": "from calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
    "README.md": "calc\n",
}
SPEC = {
    "packages": ["pytest"],
    "install": [],
    "test_cmd": "python -m pytest -rA -p no:cacheprovider",
    "log_parser": "pytest",
}
ADD_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
TIMEOUT_S = 60

# Imported by the tests (so inside pytest, after the plugin opened its records file): report
# what the run directory holds, replace the records file by `{replace}`, claim passes past
# pytest's capture and end the process with exit 0.
ATTACK = BUGGY + textwrap.dedent("""\

    import glob
    import os
    import stat


    def _say(data):
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink("/proc/self/fd/" + fd).startswith("pipe:"):
                    os.write(int(fd), data)
            except OSError:
                pass


    for rd in glob.glob("/tmp/.swelego-run-*"):
        mode = oct(stat.S_IMODE(os.lstat(rd).st_mode))
        _say(("RUNDIR " + mode + " " + " ".join(sorted(os.listdir(rd))) + "\\n").encode())
        records = os.path.join(rd, "records")
        os.unlink(records)
        {replace}
    _say(b"PASSED {f2p}\\nPASSED {p2p}\\n")
    os._exit(0)
""")
REPLACEMENTS = {
    "fifo": "os.mkfifo(records)",
    "devzero": 'os.symlink("/dev/zero", records)',
    "flood": (
        'with open(records, "w") as out:\n'
        '            out.write(("0 PASSED " + "0" * 32 + \' "x"\\n\') * 400000)'
    ),
}


def _attack(kind: str) -> str:
    code = ATTACK.replace("{replace}", REPLACEMENTS[kind])
    return code.replace("{f2p}", F2P).replace("{p2p}", P2P)


class Scenario:
    """The repository, one task per attack (the gold fix as a control), predictions."""

    def __init__(self, root: Path) -> None:
        self.repos = root / "repos"
        self.repo = self.repos / "acme__rundir"
        self.base = commit_files(self.repo, BASE, "base with the bug")
        at = lambda files: diff_of(self.repo, self.base, files)  # noqa: E731
        self.test_patch = at({"tests/test_add.py": ADD_TEST})
        self.fix = at({"calc/__init__.py": BUGGY.replace("a - b", "a + b")})
        self.predictions = {"gold": self.fix}
        for kind in REPLACEMENTS:
            self.predictions[kind] = at({"calc/__init__.py": _attack(kind)})
        tasks = [self.task(name) for name in self.predictions]
        self.tasks_file = write_tasks(tasks, root / "tasks.jsonl")
        self.predictions_file = root / "predictions.jsonl"
        self.predictions_file.write_text(
            "".join(
                json.dumps({"instance_id": f"acme__rundir-{n}", "model_patch": p}) + "\n"
                for n, p in self.predictions.items()
            )
        )
        self.host_before = self.host_state()

    def task(self, name: str) -> Task:
        return Task(
            instance_id=f"acme__rundir-{name}",
            repo="acme/rundir",
            base_commit=self.base,
            patch=self.fix,
            test_patch=self.test_patch,
            env_spec=SPEC,
            FAIL_TO_PASS=[F2P],
            PASS_TO_PASS=[P2P],
        )

    def host_state(self) -> dict[str, object]:
        """What the attacks could change on the host: the source repository, and run
        directories in the host's own /tmp."""
        return {
            "status": git(self.repo, "status", "--porcelain", "--ignored"),
            "head": git(self.repo, "rev-parse", "HEAD"),
            "refs": git(self.repo, "for-each-ref"),
            "host run dirs": sorted(p.name for p in Path("/tmp").glob(".swelego-run-*")),
        }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    return Scenario(tmp_path_factory.mktemp("rundir"))


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
            limits=Limits(timeout_s=TIMEOUT_S, memory_mb=1024),
            **options,  # type: ignore[arg-type]
        )
    )


def _output(out: Path, name: str) -> str:
    store = Store(str(out))
    keys = [k for k in store.list(f"evaluate/acme__rundir-{name}") if k.endswith("test_output.txt")]
    return store.read_bytes(keys[0]).decode() if keys else ""


def _check(scenario: Scenario, report: EvaluationReport, out: Path) -> None:
    by_id = {r.instance_id.removeprefix("acme__rundir-"): r for r in report.results}
    gold = by_id["gold"].report
    assert gold.resolved and not gold.tampering, gold
    for kind in REPLACEMENTS:
        result = by_id[kind]
        assert not result.report.resolved, (kind, result.report)
        assert result.report.reason, kind
        assert result.report.reason != "timeout", (kind, result.report.detail)
        # the builtin read gives up after RECORDS_WAIT_S (10 s): nothing waits for the deadline
        assert result.duration_s < TIMEOUT_S / 2, (kind, result.duration_s)
        output = _output(out, kind)
        assert "PASSED tests/test_add.py::test_add" in output  # the claim was made
        # the run directory: private, only the patches, the records and the plugin (and
        # its bytecode where the backend writes bytecode)
        line = next(x for x in output.splitlines() if x.startswith("RUNDIR "))
        _, mode, *names = line.split()
        names = [n for n in names if n != "__pycache__"]  # docker: bytecode is written
        assert mode == "0o700", line
        assert names[:3] == ["0.diff", "1.diff", "records"], line
        assert len(names) == 4 and names[3].startswith(PLUGIN_MODULE + "_"), line
    reasons = {k: by_id[k].report.reason for k in REPLACEMENTS}
    assert reasons["fifo"] == "evidence_missing", by_id["fifo"].report.detail
    assert reasons["devzero"] == "evidence_missing", by_id["devzero"].report.detail
    # the flood: forged lines (bad MACs) cut at the size bound; cut output or tampering
    assert reasons["flood"] in ("log_tampered", "output_truncated", "evidence_missing"), by_id[
        "flood"
    ].report.detail
    assert scenario.host_state() == scenario.host_before


@pytest.mark.slow
def test_run_dir_attacks_local(scenario: Scenario, tmp_path: Path):
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    started = time.monotonic()
    report = _evaluate(
        scenario, out, backend={"kind": "local", "cache_root": str(cache)}, cache_root=str(cache)
    )
    _check(scenario, report, out)
    assert time.monotonic() - started < 5 * TIMEOUT_S


@pytest.mark.docker
@pytest.mark.slow
def test_run_dir_attacks_docker(scenario: Scenario, docker_engine, tmp_path: Path):
    out = tmp_path / "out"
    report = _evaluate(
        scenario, out, backend={"kind": "docker", **docker_engine.model_dump(mode="json")}
    )
    _check(scenario, report, out)
