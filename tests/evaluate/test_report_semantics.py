"""report.json reads as SWE-bench's run report for the same outcomes, field by field.

fixtures/swebench_run_report.json was written by SWE-bench 4.1.0's own
`make_run_report` (fixtures/make_swebench_run_report.py) for: o__r-1 resolved, o__r-2
unresolved, o__r-3 a patch that did not apply, o__r-4 an empty patch, o__r-5 a None
patch, o__r-6 no prediction, o__r-7 an environment that did not build. swelego grades
the same outcomes (and runs the empty patches, whose outcome must not count)."""

from __future__ import annotations

import json
from pathlib import Path

from swelego_ray.evaluate._instance import InstanceResult
from swelego_ray.evaluate._report import build_report, summary_line
from swelego_ray.grading import GradeReport, InfraFailure, Outcome, infra_error

FIXTURE = Path(__file__).parent / "fixtures" / "swebench_run_report.json"
# SWE-bench adds these docker-cleanup fields only when run without a docker client
_DOCKER_ONLY = {"unstopped_instances", "unstopped_containers", "unremoved_images"}


def graded(iid: str, outcome: Outcome, *, empty: bool = False, reason: str | None = None):
    report = GradeReport(instance_id=iid, outcome=outcome, reason=reason)
    return InstanceResult(instance_id=iid, report=report, empty_patch=empty)


def failed(iid: str, failure: InfraFailure, *, empty: bool = False):
    report = infra_error(iid, failure, "detail")
    return InstanceResult(instance_id=iid, report=report, empty_patch=empty)


def swelego_report() -> dict:
    results = [
        graded("o__r-1", Outcome.RESOLVED),
        graded("o__r-2", Outcome.UNRESOLVED, reason="tests_failed"),
        failed("o__r-3", InfraFailure.PATCH_APPLY),
        graded("o__r-4", Outcome.UNRESOLVED, empty=True, reason="tests_failed"),
        failed("o__r-5", InfraFailure.SANITISE, empty=True),  # empty: an error not counted
        failed("o__r-7", InfraFailure.ENV_BUILD),
    ]
    all_ids = [f"o__r-{i}" for i in range(1, 8)]
    return build_report(all_ids, results, {}).model_dump(mode="json")


def test_every_swebench_field_matches_swebenchs_own_report():
    expected = json.loads(FIXTURE.read_text())
    ours = swelego_report()
    for field, value in expected.items():
        if field in _DOCKER_ONLY or field == "schema_version":
            continue
        assert ours[field] == value, f"{field}: swelego {ours[field]!r} != SWE-bench {value!r}"
    assert ours["schema_version"] > expected["schema_version"]  # ours carries more fields


def test_empty_patches_and_errors_count_once():
    ours = swelego_report()
    assert "o__r-4" not in ours["unresolved_ids"] + ours["completed_ids"]
    assert "o__r-5" not in ours["error_ids"]
    assert not set(ours["error_ids"]) & set(ours["incomplete_ids"])
    # the empty patches' outcomes stay visible as reasons, outside the counts
    assert ours["reasons"]["o__r-4"] == "tests_failed"
    assert ours["reasons"]["o__r-7"] == "env_build_failed"
    counts = ("completed_instances", "empty_patch_instances", "error_instances")
    assert sum(ours[c] for c in counts) == ours["submitted_instances"]


def test_summary_names_instances_without_a_prediction():
    results = [graded("o__r-1", Outcome.RESOLVED)]
    line = summary_line(build_report(["o__r-1", "o__r-2"], results, {}))
    assert line.startswith("resolved 1/2 (50.0%)") and "no prediction 1" in line
