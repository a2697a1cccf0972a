"""run_validation on a tiny repository: real fixes and synthetic bugs, baseline shared per
environment, drops recorded with reasons, and a validated synthetic task that evaluates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "evaluate"))
import pytest
from repo_builders import BASE_FILES, calc_tasks, diff_of, make_calc_repo

from swelego_ray.evaluate import EvaluateConfig, run_evaluation
from swelego_ray.sandbox import Limits
from swelego_ray.schema import Provenance, Task, read_tasks, write_tasks
from swelego_ray.validate import ValidateConfig, run_validation


@pytest.mark.slow
def test_validate_real_and_synthetic_then_evaluate(tmp_path: Path, sandbox_cache: Path):
    repos = tmp_path / "repos"
    repo, base = make_calc_repo(repos)
    real = [
        t.model_copy(update={"FAIL_TO_PASS": [], "PASS_TO_PASS": []})
        for t in calc_tasks(repo, base)
    ]
    src = BASE_FILES["calc/__init__.py"]
    readme_only = real[0].model_copy(
        update={
            "instance_id": "acme__calc-noop",
            "patch": diff_of(repo, base, {"README.md": "calc, documented\n"}),
        }
    )
    bug = diff_of(repo, base, {"calc/__init__.py": src.replace("return -a", "return a")})
    harmless = diff_of(repo, base, {"calc/__init__.py": src + "\n\ndef unused():\n    pass\n"})
    synthetic = [
        Task(
            instance_id=f"acme__calc.{name}",
            repo="acme/calc",
            base_commit=base,
            patch=diff,
            provenance=Provenance.AST,
            env_spec=real[0].env_spec,
        )
        for name, diff in (("neg_bug", bug), ("harmless", harmless))
    ]
    candidates = write_tasks([*real, readme_only, *synthetic], tmp_path / "candidates.jsonl")
    cfg = ValidateConfig(
        candidates=str(candidates),
        repos_dir=str(repos),
        out=str(tmp_path / "val"),
        runs=1,
        in_process=True,
        workers=1,
        progress=False,
        cache_root=str(sandbox_cache),
        backend={"kind": "local", "cache_root": str(sandbox_cache)},
        limits=Limits(timeout_s=60, memory_mb=2048),
        timeout_s=600,
    )
    report = run_validation(cfg)
    kept = {t.instance_id: t for t in report.kept}
    assert sorted(kept) == ["acme__calc-1", "acme__calc-2", "acme__calc.neg_bug"]
    assert kept["acme__calc-1"].FAIL_TO_PASS == ["tests/test_add.py::test_add"]
    assert kept["acme__calc-2"].FAIL_TO_PASS == [
        "tests/test_calc.py::test_mul[two three]",
        "tests/test_calc.py::test_mul[x]",
    ]
    assert kept["acme__calc-2"].PASS_TO_PASS == ["tests/test_calc.py::test_neg"]
    neg = kept["acme__calc.neg_bug"]
    assert neg.FAIL_TO_PASS == ["tests/test_calc.py::test_neg"]
    assert neg.bug_patch == bug and "bug_patch" not in neg.meta
    assert "-    return a\n+    return -a" in neg.patch  # the gold patch reverses the bug
    dropped = {d.instance_id: d for d in report.dropped}
    assert dropped["acme__calc-noop"].reason == "no_fail_to_pass"
    assert dropped["acme__calc.harmless"].reason == "no_fail_to_pass"
    assert not any(d.infra for d in report.dropped)
    summary = json.loads((tmp_path / "val/validation.json").read_text())
    # one baseline per (environment, test command, test patch): the two synthetic
    # candidates share the clean-suite run, and so do calc-1 and calc-noop (one test patch)
    assert summary["baselines"] == 3
    assert [t.instance_id for t in read_tasks(tmp_path / "val/tasks.jsonl")] == sorted(kept)

    again = run_validation(cfg)
    assert again.funnel["reused_from_earlier_run"] == 5
    assert sorted(t.instance_id for t in again.kept) == sorted(kept)

    # the validated tasks evaluate: gold resolves all of them (the synthetic one included)
    ev = run_evaluation(
        EvaluateConfig(
            tasks=str(tmp_path / "val/tasks.jsonl"),
            predictions="gold",
            repos_dir=str(repos),
            out=str(tmp_path / "eval"),
            in_process=True,
            workers=1,
            progress=False,
            cache_root=str(sandbox_cache),
            backend={"kind": "local", "cache_root": str(sandbox_cache)},
            limits=Limits(timeout_s=60, memory_mb=2048),
            timeout_s=300,
        )
    )
    assert ev.resolved_ids == sorted(kept), ev.details
