"""A tiny library with tests, as a git repository, for the synthesis tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin",
}

LIB = '''"""A tiny statistics library."""


def mean(values):
    """The arithmetic mean."""
    if not values:
        raise ValueError("no values")
    total = 0
    for value in values:
        total += value
    return total / len(values)


def clamp(value, low=0, high=10):
    if value < low:
        return low
    if value > high:
        return high
    return value


class Counter:
    def __init__(self):
        self.counts = {}

    def add(self, key, times=1):
        current = self.counts.get(key, 0)
        self.counts[key] = current + times
        return self.counts[key]

    def top(self, n):
        ranked = sorted(self.counts.items(), key=lambda kv: kv[1], reverse=True)
        names = [key for key, _ in ranked]
        return names[:n]


def unfinished():
    """Not written yet."""
    raise NotImplementedError
'''

TESTS = """from stats import Counter, clamp, mean


def test_mean():
    assert mean([1, 2, 3, 6]) == 3


def test_mean_empty():
    with pytest.raises(ValueError):
        mean([])


def test_clamp():
    assert clamp(-1) == 0
    assert clamp(11) == 10
    assert clamp(5) == 5
    assert clamp(5, high=4) == 4


def test_counter():
    c = Counter()
    c.add("a")
    c.add("b", 3)
    assert c.add("a") == 2
    assert c.top(1) == ["b"]
    assert c.top(5) == ["b", "a"]
"""

SPEC = {"packages": ["pytest"], "install": [], "test_cmd": "pytest -rA -p no:cacheprovider"}


def git(repo: Path, *args: str, date: str | None = None) -> str:
    dates = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    out = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env={**GIT_ENV, **dates},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str, date: str | None = None) -> str:
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD")


def make_stats_repo(repo: Path) -> Path:
    """acme__stats: the library, its tests, a conftest (so `pytest` imports it), docs."""
    commit(
        repo,
        {
            "stats.py": LIB,
            "tests/test_stats.py": TESTS,
            "conftest.py": "",
            "setup.py": "from setuptools import setup\n\nsetup(name='stats')\n",
            "docs/conf.py": "project = 'stats'\nversion = '1'\nrelease = '1'\nx = 1 + 2\n",
        },
        "stats with tests",
    )
    return repo
