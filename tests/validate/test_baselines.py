"""A baseline's runs are separate items; its record joins them: every run's statuses in
order, or the first failure."""

from __future__ import annotations

from swelego_ray.validate._run import _baseline_records


def test_runs_join_into_one_record_or_the_first_failure():
    ok1 = {"ok": True, "runs": [{"t::a": "PASSED"}]}
    ok2 = {"ok": True, "runs": [{"t::a": "FAILED"}]}
    timeout = {"ok": False, "reason": "timeout", "infra": True, "detail": "deadline"}
    owners = ["env-a", "env-a", "env-b", "env-b", "env-c", "env-c"]
    records = [ok1, ok2, timeout, ok1, ok1, {**timeout, "reason": "sandbox"}]
    joined = _baseline_records(owners, records)
    assert joined["env-a"] == {"ok": True, "runs": [{"t::a": "PASSED"}, {"t::a": "FAILED"}]}
    assert joined["env-b"] == timeout
    assert joined["env-c"]["reason"] == "sandbox"
