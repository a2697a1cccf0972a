"""A repository with one fix merged by a pull request, and a dump of GitHub API pull
request objects about it: one good pull request and one of each kind the filters drop."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from synth_repos import GIT_ENV, LIB, commit

BUGGY = LIB.replace("return total / len(values)", "return total / (len(values) + 1)")
TESTS_BEFORE = """import pytest

from stats import Counter, clamp


def test_clamp():
    assert clamp(-1) == 0
    assert clamp(11) == 10


def test_counter():
    c = Counter()
    c.add("b", 3)
    assert c.top(1) == ["b"]
"""
TESTS_AFTER = (
    TESTS_BEFORE.replace(
        "from stats import Counter, clamp", "from stats import Counter, clamp, mean"
    )
    + """

def test_mean():
    assert mean([1, 2, 3, 6]) == 3


def test_mean_empty():
    with pytest.raises(ValueError):
        mean([])
"""
)
REPO = "acme/stats"
ISSUE = {
    "number": 7,
    "title": "mean() returns the wrong average",
    "body": "mean([1, 2, 3, 6]) gives 2.4 where 3 is expected.\r\nIt seems off by one.",
    "state": "closed",
    "html_url": "https://github.com/acme/stats/issues/7",
}
STATEMENT = (
    "mean() returns the wrong average\n"
    "mean([1, 2, 3, 6]) gives 2.4 where 3 is expected.\nIt seems off by one.\n"
)
# Each bad pull request's number -> the funnel reason that drops it.
EXPECTED_DROPS = {
    11: "not_merged",
    12: "no_linked_issue",
    13: "files_out_of_bounds",
    14: "no_test_change",
    15: "base_missing",
    16: "issue_not_found",
    17: "issue_too_short",
    18: "does_not_apply",
    10: "duplicate",  # the good one, listed twice
}


@dataclass
class PRRepo:
    path: Path
    base: str  # the pull request's base commit
    fix: str  # its merge into main
    diff: str  # base..fix


def make_pr_repo(repo: Path) -> PRRepo:
    """acme__stats: a buggy mean(), then the fix with its tests, then an unrelated change."""
    base = commit(
        repo,
        {"stats.py": BUGGY, "tests/test_stats.py": TESTS_BEFORE, "conftest.py": ""},
        "stats",
        date="2024-01-01T00:00:00+00:00",
    )
    fix = commit(
        repo,
        {"stats.py": LIB, "tests/test_stats.py": TESTS_AFTER},
        "Merge pull request #10",
        date="2024-02-01T00:00:00+00:00",
    )
    commit(repo, {"README.md": "stats\n"}, "readme", date="2024-03-01T00:00:00+00:00")
    diff = subprocess.run(
        ["git", "diff", base, fix], cwd=repo, env=GIT_ENV, capture_output=True, text=True
    ).stdout
    return PRRepo(repo, base, fix, diff)


def _pr(number: int, base_sha: str, **fields) -> dict:
    return {
        "number": number,
        "title": f"PR {number}",
        "body": "Fixes #7",
        "state": "closed",
        "merged_at": "2024-02-01T00:00:00Z",
        "created_at": "2024-01-20T12:30:00Z",
        "html_url": f"https://github.com/{REPO}/pull/{number}",
        "merge_commit_sha": None,
        "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": REPO}},
        "head": {"sha": "f" * 40, "ref": f"fix-{number}"},
        **fields,
    }


def _many_files_diff(n: int) -> str:
    return (
        "".join(
            f"diff --git a/pkg/m{i}.py b/pkg/m{i}.py\nnew file mode 100644\n--- /dev/null\n"
            f"+++ b/pkg/m{i}.py\n@@ -0,0 +1 @@\n+x = {i}\n"
            for i in range(n)
        )
        + "diff --git a/tests/test_m.py b/tests/test_m.py\n--- /dev/null\n+++ b/tests/test_m.py\n"
    )


def pull_requests(fx: PRRepo) -> list[dict]:
    """The API objects, newest first: the good one (#10), then the bad ones."""
    source_only = fx.diff[: fx.diff.index("diff --git a/tests/")]
    stale = fx.diff.replace("\n         total += value\n", "\n         total -= value\n")
    assert stale != fx.diff
    return [
        _pr(10, fx.base, diff=fx.diff, merge_commit_sha=fx.fix, issues=[ISSUE]),
        _pr(11, fx.base, diff=fx.diff, merged_at=None, issues=[ISSUE]),
        _pr(12, fx.base, diff=fx.diff, body="Improve mean.", issues=[]),
        _pr(13, fx.base, diff=_many_files_diff(16), issues=[ISSUE]),
        _pr(14, fx.base, diff=source_only, issues=[ISSUE]),
        _pr(15, "0123456789" * 4, diff=fx.diff, issues=[ISSUE]),
        _pr(16, fx.base, diff=fx.diff, body="Closes #20", issues=[]),
        _pr(17, fx.base, diff=fx.diff, body="fixes #8", issues=[{"number": 8, "title": "bug"}]),
        _pr(18, fx.base, diff=stale, issues=[ISSUE]),
        _pr(10, fx.base, diff=fx.diff, issues=[ISSUE]),
        _pr(
            30,
            fx.base,
            diff=fx.diff,
            issues=[ISSUE],
            base={"sha": fx.base, "repo": {"full_name": "other/repo"}},
        ),
    ]


def write_dump(fx: PRRepo, path: Path) -> Path:
    """The dump (one object per line), with one line that is not a pull request."""
    lines = [json.dumps(pr) for pr in pull_requests(fx)]
    lines.insert(3, '{"number": "not a pull request"}')
    path.write_text("\n".join(lines) + "\n")
    return path
