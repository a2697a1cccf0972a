"""The run report: SWE-bench's report.json shape plus reasons, and a readable table."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.evaluate._instance import InstanceResult
from swelego_ray.grading import Outcome

SCHEMA_VERSION = 5  # 4: SWE-bench's semantics for empty patches and errors; 5: network_ids


class EvaluationReport(BaseModel):
    """Counts and id lists as SWE-bench's run report has them, plus why each instance that
    did not resolve did not (`reasons`, `details`) and which predictions tampered with the
    test run (`tampered_ids`, `tampering`: runner-control files restored, PASSED lines
    without a signed record). `results` holds every instance's full result (not written
    to report.json; each is stored beside its logs)."""

    model_config = ConfigDict(extra="forbid")

    total_instances: int
    submitted_instances: int
    completed_instances: int
    resolved_instances: int
    unresolved_instances: int
    empty_patch_instances: int
    error_instances: int
    completed_ids: list[str]
    incomplete_ids: list[str]
    empty_patch_ids: list[str]
    submitted_ids: list[str]
    resolved_ids: list[str]
    unresolved_ids: list[str]
    error_ids: list[str]
    reasons: dict[str, str] = Field(default_factory=dict)
    details: dict[str, str] = Field(default_factory=dict)
    tampered_ids: list[str] = Field(default_factory=list)
    tampering: dict[str, str] = Field(default_factory=dict)
    network_ids: list[str] = Field(default_factory=list)
    """Instances with graded tests that failed on a network error (sandboxes have none):
    network-only when the patch is the gold one (docs/evaluation.md)."""
    network_failures: dict[str, list[str]] = Field(default_factory=dict)
    funnel: dict[str, Any] = Field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    results: list[InstanceResult] = Field(default_factory=list, exclude=True)

    @property
    def resolve_rate(self) -> float:
        return self.resolved_instances / self.total_instances if self.total_instances else 0.0


def build_report(
    all_ids: list[str],
    results: list[InstanceResult],
    funnel: dict[str, Any],
    *,
    submitted: list[str] | None = None,
) -> EvaluationReport:
    """`all_ids`: every task in scope; `results`: one per submitted instance in scope;
    `submitted`: every prediction's id, in scope or not (default: the results').

    SWE-bench's run report semantics (swebench.harness.reporting, 4.x), field by field:
    `total_instances` counts the tasks in scope; `submitted_*` the whole predictions
    file (SWE-bench counts every prediction, also those `instance_ids` leaves out);
    `incomplete_ids` the tasks with no prediction; `empty_patch_ids` the predictions
    whose patch is empty, which count nowhere else (neither completed nor unresolved nor
    error); of the rest, those graded are `completed_ids` (split into `resolved_ids` and
    `unresolved_ids`) and those that could not be graded (an infrastructure error: the
    environment, the patch not applying, a timeout, ...) are `error_ids` only.

    Unlike SWE-bench, empty patches are still run (their tests show what the task
    demands): their outcome is in `results`, `reasons` and report.md, not in the counts."""
    reasons, details = {}, {}
    for r in results:
        if r.report.reason:
            reasons[r.instance_id] = r.report.reason
            details[r.instance_id] = r.report.detail[:2000]
    tampering = {r.instance_id: _tampering(r) for r in results if r.report.tampering}
    network = {r.instance_id: r.network_failures for r in results if r.network_failures}
    submitted = [r.instance_id for r in results] if submitted is None else submitted
    empty = [r.instance_id for r in results if r.empty_patch]
    by_outcome: dict[Outcome, list[str]] = {o: [] for o in Outcome}
    for r in results:
        if not r.empty_patch:
            by_outcome[r.report.outcome].append(r.instance_id)
    completed = by_outcome[Outcome.RESOLVED] + by_outcome[Outcome.UNRESOLVED]
    return EvaluationReport(
        total_instances=len(all_ids),
        submitted_instances=len(submitted),
        completed_instances=len(completed),
        resolved_instances=len(by_outcome[Outcome.RESOLVED]),
        unresolved_instances=len(by_outcome[Outcome.UNRESOLVED]),
        empty_patch_instances=len(empty),
        error_instances=len(by_outcome[Outcome.ERROR]),
        completed_ids=sorted(completed),
        incomplete_ids=sorted(set(all_ids) - {r.instance_id for r in results}),
        empty_patch_ids=sorted(empty),
        submitted_ids=sorted(submitted),
        resolved_ids=sorted(by_outcome[Outcome.RESOLVED]),
        unresolved_ids=sorted(by_outcome[Outcome.UNRESOLVED]),
        error_ids=sorted(by_outcome[Outcome.ERROR]),
        reasons=reasons,
        details=details,
        tampered_ids=sorted(tampering),
        tampering=dict(sorted(tampering.items())),
        network_ids=sorted(network),
        network_failures=dict(sorted(network.items())),
        funnel=funnel,
        results=sorted(results, key=lambda r: r.instance_id),
    )


def _tampering(r: InstanceResult) -> str:
    parts = []
    if r.report.tampered_files:
        parts.append("runner-control files restored: " + ", ".join(r.report.tampered_files))
    if r.report.unsigned_passes:
        shown = ", ".join(r.report.unsigned_passes[:5])
        parts.append(f"PASSED in the log without a signed record: {shown}")
    return "; ".join(parts)


def _row(r: InstanceResult) -> list[str]:
    f2p, p2p = r.report.FAIL_TO_PASS, r.report.PASS_TO_PASS
    return [
        r.instance_id,
        r.report.outcome.value,
        r.report.reason or "",
        f"{len(f2p.success)}/{len(f2p.success) + len(f2p.failure)}",
        f"{len(p2p.success)}/{len(p2p.success) + len(p2p.failure)}",
        f"{r.duration_s:.1f}",
    ]


_HEADER = ["instance", "outcome", "reason", "F2P pass", "P2P pass", "seconds"]


def summary_line(report: EvaluationReport) -> str:
    missing = len(report.incomplete_ids)
    return (
        f"resolved {report.resolved_instances}/{report.total_instances} "
        f"({100 * report.resolve_rate:.1f}%), unresolved {report.unresolved_instances}, "
        f"errors {report.error_instances}, empty patches {report.empty_patch_instances}"
        + (f", no prediction {missing}" if missing else "")
        + (f", tampering {len(report.tampered_ids)}" if report.tampered_ids else "")
        + (f", failed on the network {len(report.network_ids)}" if report.network_ids else "")
    )


def render_markdown(report: EvaluationReport) -> str:
    lines = ["# Evaluation report", "", summary_line(report), ""]
    lines += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for r in report.results:
        cells = [c.replace("|", "\\|") for c in _row(r)]
        lines.append("| " + " | ".join(cells) + " |")
    if report.details:
        lines += ["", "## Why instances did not resolve", ""]
        for iid, detail in sorted(report.details.items()):
            first = detail.strip().splitlines()[0] if detail.strip() else ""
            lines.append(
                f"- `{iid}`: {report.reasons[iid]}" + (f" ({first[:200]})" if first else "")
            )
    if report.tampering:
        lines += ["", "## Tampering with the test run", ""]
        lines += [f"- `{iid}`: {what}" for iid, what in report.tampering.items()]
    if report.network_failures:
        lines += ["", "## Graded tests that failed on the network (sandboxes have none)", ""]
        for iid, tests in report.network_failures.items():
            shown = ", ".join(f"`{t}`" for t in tests[:5]) + (" ..." if len(tests) > 5 else "")
            lines.append(f"- `{iid}` ({len(tests)}): {shown}")
    return "\n".join(lines) + "\n"


def rich_table(report: EvaluationReport):
    from rich.table import Table

    table = Table(title=summary_line(report))
    for name in _HEADER:
        table.add_column(name, no_wrap=name == "instance")
    style = {"resolved": "green", "unresolved": "yellow", "error": "red"}
    for r in report.results:
        table.add_row(*_row(r), style=style[r.report.outcome.value])
    return table
