"""History mining finds the fix commits (code + tests) of a repository built for it."""

from __future__ import annotations

from pathlib import Path

from synth_repos import LIB, TESTS, commit, git

from swelego_ray.schema import Provenance
from swelego_ray.synth import RepoInput, SynthConfig, SynthFunnel, propose


def test_history_finds_the_fix_commits(tmp_path: Path):
    repo = tmp_path / "acme__stats"
    buggy = LIB.replace("return total / len(values)", "return total / (len(values) + 1)")
    commit(repo, {"stats.py": buggy, "tests/test_stats.py": "", "conftest.py": ""}, "import")
    commit(repo, {"README.md": "stats\n"}, "docs")
    fix1 = commit(repo, {"stats.py": LIB, "tests/test_stats.py": TESTS}, "Fix mean",
                  date="2024-03-01T10:00:00+00:00")  # fmt: skip
    commit(repo, {"tests/test_more.py": "def test_x():\n    assert True\n"}, "more tests")
    fixed_clamp = LIB.replace("if value > high:", "if value >= high:")
    fix2 = commit(
        repo,
        {"stats.py": fixed_clamp, "tests/test_stats.py": TESTS + "\n\ndef test_z():\n    pass\n"},
        "Clamp at the upper bound\n\nLonger story.",
    )
    commit(repo, {"stats.py": fixed_clamp + "\n# note\n"}, "comment only")
    cfg = SynthConfig(
        repos=[RepoInput(path=str(repo))], out=str(tmp_path / "out"), strategies=["history"]
    )
    funnel = SynthFunnel()
    found = {c.origin.commit: c for c in propose(cfg, funnel)}
    assert sorted(found) == sorted([fix1, fix2])
    first = found[fix1]
    assert first.base_commit == git(repo, "rev-parse", f"{fix1}^")
    assert first.provenance is Provenance.REAL and first.created_at == "2024-03-01T10:00:00Z"
    assert "stats.py" in first.patch and "tests/" not in first.patch
    assert (
        "tests/test_stats.py" in first.test_patch and "stats.py b/stats.py" not in first.test_patch
    )
    assert found[fix2].hint.startswith("Clamp at the upper bound")
    row = funnel.rows[("history", "commit")]
    assert row.reached["candidates"] == 6 and row.reached["compiles"] == 2
    assert row.dropped == {"root_commit": 1, "no_test_change": 2, "no_source_change": 1}
