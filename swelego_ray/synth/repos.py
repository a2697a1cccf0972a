"""A repository at one commit, read through the project's safe git (never its config)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from swelego_ray.gitsafe import GitError, git_output
from swelego_ray.schema import EnvSpec

_TEST_DIRS = {"test", "tests", "testing"}
_SKIP_DIRS = {"docs", "doc", "examples", "benchmarks", "scripts", ".github"}
_SKIP_FILES = {"setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py"}


def is_test_path(path: str) -> bool:
    """tests/ (or test/, testing/) anywhere in the path, test_*.py, *_test.py, conftest.py."""
    parts = PurePosixPath(path).parts
    name = parts[-1]
    return (
        any(p in _TEST_DIRS for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def is_source_path(path: str) -> bool:
    """A Python file of the library itself: not tests, docs, examples, setup or scripts."""
    parts = PurePosixPath(path).parts
    return (
        path.endswith(".py")
        and not is_test_path(path)
        and parts[-1] not in _SKIP_FILES
        and not any(p in _SKIP_DIRS or p.startswith(".") for p in parts[:-1])
    )


_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def repo_name_of(path: Path, name: str | None = None) -> str:
    """The task's `repo` (owner/name): `name` if given; a directory named `owner__name`
    (the layout of repos directories) gives `owner/name`; else `local/<directory name>`."""
    if name:
        if name.count("/") != 1 or not all(_NAME_RE.match(p) for p in name.split("/")):
            raise ValueError(f"repository name {name!r}: expected owner/name")
        return name
    stem = path.resolve().name.removesuffix(".git")
    owner, sep, rest = stem.partition("__")
    if sep and _NAME_RE.match(owner) and _NAME_RE.match(rest):
        return f"{owner}/{rest}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", stem) or "repo"
    return f"local/{safe}"


@dataclass
class RepoSnapshot:
    """`repo` (owner/name) at `commit` of the git repository at `path`."""

    path: Path
    repo: str
    commit: str
    env_spec: EnvSpec | None = None
    _texts: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls,
        path: str | Path,
        name: str | None = None,
        rev: str = "HEAD",
        env_spec: EnvSpec | None = None,
    ) -> RepoSnapshot:
        """The repository at `path` at `rev`; ValueError naming the path when it is not a
        git repository or `rev` does not exist."""
        where = Path(path).expanduser().resolve()
        if not where.is_dir():
            raise ValueError(f"repository {path}: no such directory")
        try:
            commit = git_output("rev-parse", "--verify", f"{rev}^{{commit}}", cwd=where).strip()
        except GitError as exc:
            raise ValueError(f"repository {path}: not a git repository at {rev}: {exc}") from None
        return cls(where, repo_name_of(where, name), commit, env_spec)

    @property
    def stem(self) -> str:
        """owner__name, the instance-id prefix SWE-bench uses."""
        return self.repo.replace("/", "__")

    def files(self) -> list[str]:
        """Every file path at the commit, sorted."""
        out = git_output("ls-tree", "-r", "--name-only", "-z", self.commit, cwd=self.path)
        return sorted(p for p in out.split("\0") if p)

    def read(self, path: str) -> str | None:
        """The file's text at the commit (None when it is not UTF-8), cached."""
        if path not in self._texts:
            try:
                raw = git_output("show", f"{self.commit}:{path}", cwd=self.path)
            except (GitError, UnicodeDecodeError):
                raw = None
            self._texts[path] = raw
        return self._texts[path]

    def commit_date(self, commit: str | None = None) -> str:
        """The committer date of `commit` (default: the snapshot's), ISO 8601 in UTC."""
        stamp = git_output("show", "-s", "--format=%ct", commit or self.commit, cwd=self.path)
        from datetime import UTC, datetime

        return datetime.fromtimestamp(int(stamp.strip()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
