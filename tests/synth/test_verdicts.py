"""From validation verdicts to the funnel: unstable candidates, bug timeouts (not
infrastructure, not rerun), statements that leak the fix, the per-repository budget."""

from __future__ import annotations

from pathlib import Path

from swelego_ray.schema import Provenance, Task
from swelego_ray.storage import Store
from swelego_ray.synth import Candidate, Features, Origin, SynthConfig, SynthFunnel, TemplateWriter
from swelego_ray.synth.run import _bug_limit_hits, _earlier_limit_hits, _finish
from swelego_ray.validate import Dropped, ValidationReport

FIX = (
    "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n"
    "-    return a - b\n+    return a + b\n"
)


def _cand(i: int) -> Candidate:
    return Candidate(
        instance_id=f"a__m.ast.t.{i}",
        repo="a/m",
        base_commit="0" * 40,
        source="/nowhere",
        provenance=Provenance.AST,
        origin=Origin(strategy="ast", transform="t"),
        features=Features(lines_changed=2, files=1),
        bug_patch="bug",
        patch=FIX,
    )


class QuotingWriter:
    """A writer that quotes the fix in the statement of every second task."""

    name = "quoting"

    def __init__(self) -> None:
        self.calls = 0

    def write(self, task, evidence) -> str:
        self.calls += 1
        return f"Tests fail: {evidence.failing_tests}" + (
            "\nfix: return a + b" if self.calls % 2 == 0 else ""
        )


def test_verdicts_to_funnel(tmp_path: Path):
    cfg = SynthConfig(repos=[{"path": str(tmp_path)}], out=str(tmp_path), max_per_repo=2)
    store = Store(str(tmp_path))
    cands = [_cand(i) for i in range(8)]
    kept = [
        cands[i].to_task().model_copy(update={"FAIL_TO_PASS": ["t::a"], "PASS_TO_PASS": ["t::b"]})
        for i in (0, 1, 2, 3)
    ]
    validation = ValidationReport(
        kept=kept,
        dropped=[
            Dropped(instance_id=cands[4].instance_id, reason="no_fail_to_pass", infra=False,
                    detail="flaky: ['t::a']"),
            Dropped(instance_id=cands[5].instance_id, reason="no_fail_to_pass", infra=False,
                    detail="flaky: []"),
            Dropped(instance_id=cands[6].instance_id, reason="timeout", infra=True),
            Dropped(instance_id=cands[7].instance_id, reason="timeout", infra=True,
                    detail="baseline: deadline hit"),
        ],
    )  # fmt: skip
    validation = _bug_limit_hits(cfg, store, cands, validation, {})
    funnel = SynthFunnel()
    writer = QuotingWriter()
    report = _finish(cfg, store, cands, validation, funnel, writer)
    assert [t.instance_id for t in report.tasks] == [cands[0].instance_id, cands[2].instance_id]
    assert writer.calls == 3  # no statement asked for the task over the budget
    assert isinstance(report.tasks[0], Task) and report.tasks[0].problem_statement
    row = funnel.rows[("ast", "t")]
    assert row.reached["fail_to_pass"] == 5 and row.reached["stable"] == 4
    assert row.reached["written"] == 2
    assert row.dropped == {
        "unstable": 1,
        "no_fail_to_pass": 1,
        "bug_timeout": 1,
        "statement_leaks": 1,
        "over_budget": 1,
        "timeout": 1,  # the clean suite's timeout: infrastructure, retried by a rerun
    }
    assert [d.instance_id for d in report.dropped if d.infra] == [cands[7].instance_id]
    # with a fallback writer the task whose statement leaked is written, the rejection noted
    funnel = SynthFunnel()
    report = _finish(cfg, store, cands, validation, funnel, QuotingWriter(), TemplateWriter())
    assert [t.instance_id for t in report.tasks] == [cands[0].instance_id, cands[1].instance_id]
    assert "Failing tests:" in report.tasks[1].problem_statement
    assert funnel.rows[("ast", "t")].notes == {"statement_leaks->template": 1}
    # a later run with the same deadline does not run the timed-out bug again
    assert _earlier_limit_hits(cfg, store) == {cands[6].instance_id: "bug_timeout"}
    slower = cfg.model_copy(update={"limits": cfg.limits.model_copy(update={"timeout_s": 999})})
    assert _earlier_limit_hits(slower, store) == {}
