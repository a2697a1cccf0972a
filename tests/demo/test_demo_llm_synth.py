"""The demo's synthesis stage with `llm_synth` against the real tiny server (vLLM's CPU
engine, a random model): every LLM rewrite ends in the funnel with its reason, every
rejected statement is replaced by the template's with the rejection noted, nothing
crashes, and the AST tasks are what the rest of the demo gets; a rerun reuses the stage
whole, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

import swelego_ray.demo as demo
from swelego_ray.samples import materialize_sample_repos, sample_names
from swelego_ray.schema import read_tasks
from swelego_ray.synth.llm_rewrite import Reject

VALIDATION_DROPS = {"no_fail_to_pass", "no_pass_to_pass", "unstable", "over_budget"}


@pytest.mark.slow
def test_demo_llm_synthesis(tiny_llm_server, sandbox_cache: Path, tmp_path: Path, monkeypatch):
    cfg = demo.DemoConfig(
        workdir=str(tmp_path), synth_per_repo=1, validation_runs=1, llm_synth=True,
        llm_max_tokens=48, progress=False,
    )  # fmt: skip
    shared = {
        "workers": 1, "in_process": True, "progress": False, "cache_root": str(sandbox_cache),
        "backend": {"kind": "local", "cache_root": str(sandbox_cache)},
    }  # fmt: skip
    repos = materialize_sample_repos(tmp_path / "repos")
    packages = sample_names()[:1]
    report = demo.synthesize(
        cfg, tmp_path, repos, shared, llm_url=tiny_llm_server.base_url, packages=packages
    )

    llm, ast = report.stages["by_strategy"]["llm"], report.stages["by_strategy"]["ast"]
    assert llm["candidates"] == 4  # the budget: 4 x synth_per_repo attempts
    assert llm["written"] + sum(llm["dropped"].values()) == llm["candidates"], llm
    assert set(llm["dropped"]) <= {str(r) for r in Reject} | {"duplicate"} | VALIDATION_DROPS
    notes = {**llm["notes"], **ast["notes"]}  # rejected statements, replaced by the template's
    assert all(n.startswith("statement_failed:") and n.endswith("->template") for n in notes)
    tasks = read_tasks(tmp_path / "synth" / "tasks.jsonl")  # what the demo's rollouts get
    assert [t.instance_id for t in tasks] == [t.instance_id for t in report.tasks]
    assert ast["written"] == 1 and any(t.meta["synth"]["strategy"] == "ast" for t in tasks)
    assert all(t.problem_statement.strip() and t.FAIL_TO_PASS for t in tasks)

    def no_server(*args, **kwargs):
        raise AssertionError("a finished synthesis stage needs no LLM server")

    monkeypatch.setattr(demo, "_local_llm", no_server)
    again = demo.synthesize(cfg, tmp_path, repos, shared, packages=packages)
    assert again.tasks == report.tasks and again.stages == report.stages
