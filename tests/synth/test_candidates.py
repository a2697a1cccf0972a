"""Targets and AST candidates: library code only, trivial functions skipped, seeded,
de-duplicated, compiling, with provenance; the gold patch reverses the bug."""

from __future__ import annotations

import subprocess
from pathlib import Path

from synth_repos import git

from swelego_ray.synth import (
    RepoInput,
    RepoSnapshot,
    SynthConfig,
    SynthFunnel,
    is_source_path,
    is_test_path,
    propose,
)
from swelego_ray.synth.targets import find_targets


def _cfg(repo: Path, tmp_path: Path, **kw) -> SynthConfig:
    return SynthConfig(repos=[RepoInput(path=str(repo))], out=str(tmp_path / "out"), **kw)


def test_paths():
    assert is_test_path("tests/test_x.py") and is_test_path("pkg/test_x.py")
    assert is_test_path("conftest.py") and is_test_path("src/pkg/testing/util.py")
    assert is_source_path("src/pkg/core.py")
    assert not is_source_path("setup.py") and not is_source_path("docs/conf.py")
    assert not is_source_path("tests/test_x.py") and not is_source_path("README.md")


def test_targets_skip_tests_docs_and_trivial_functions(stats_repo: Path):
    snapshot = RepoSnapshot.open(stats_repo)
    assert snapshot.repo == "acme/stats"
    targets, _ = find_targets(snapshot)
    names = {(t.file, t.qualname) for t in targets}
    # __init__ has one statement; `unfinished` only raises NotImplementedError
    assert names == {
        ("stats.py", "mean"),
        ("stats.py", "clamp"),
        ("stats.py", "Counter.add"),
        ("stats.py", "Counter.top"),
    }
    assert all(t.is_method == t.qualname.startswith("Counter.") for t in targets)


def test_candidates_are_seeded_distinct_and_apply(stats_repo: Path, tmp_path: Path):
    funnel = SynthFunnel()
    first = propose(_cfg(stats_repo, tmp_path, seed=1, candidates_per_repo=25), funnel)
    again = propose(_cfg(stats_repo, tmp_path, seed=1, candidates_per_repo=25), SynthFunnel())
    other = propose(_cfg(stats_repo, tmp_path, seed=2, candidates_per_repo=25), SynthFunnel())
    ids = [c.instance_id for c in first]
    assert ids == [c.instance_id for c in again] and len(ids) == 25 == len(set(ids))
    assert ids != [c.instance_id for c in other]
    assert len({c.bug_patch for c in first}) == 25  # de-duplicated by diff
    assert len({c.origin.transform for c in first}) >= 8
    total = funnel.total()
    assert total.reached["compiles"] == 25
    assert total.reached["candidates"] == 25 + sum(total.dropped.values())
    for cand in first[:6]:
        assert cand.origin.file == "stats.py" and cand.origin.function
        assert cand.features.files == 1 and cand.features.lines_changed >= 1
        assert cand.base_commit == git(stats_repo, "rev-parse", "HEAD")
        task = cand.to_task()
        assert task.meta["synth"]["strategy"] == "ast" and task.bug_patch
        _check_bug_and_fix(stats_repo, cand.bug_patch, cand.patch)


def _check_bug_and_fix(repo: Path, bug: str, fix: str) -> None:
    """The bug applies to the snapshot; the fix, applied after it, restores it."""

    def apply(patch: str, *args: str) -> None:
        subprocess.run(["git", "apply", *args, "-"], cwd=repo, input=patch, text=True,
                       check=True, capture_output=True)  # fmt: skip

    apply(bug, "--check")
    apply(bug)
    try:
        apply(fix)
        assert git(repo, "status", "--porcelain") == ""
    finally:
        git(repo, "checkout", "-q", "--", ".")
