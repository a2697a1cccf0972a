"""Pull requests as the GitHub REST API returns them, and where they come from.

A `PRSource` yields pull requests (the fields of `GET /repos/{o}/{r}/pulls` objects that
mining reads), their diffs and their linked issues. Two sources: `DumpSource`, a JSONL
file of those API objects with the diff and the issues embedded (offline; the shape is
in docs/synthesis.md), and `swelego_ray.synth.github_api.GitHubSource` (the REST API).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

logger = logging.getLogger(__name__)


class _ApiObject(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RepoRef(_ApiObject):
    full_name: str = ""


class BranchRef(_ApiObject):
    """`base` / `head` of a pull request: the commit and its repository."""

    sha: str
    ref: str = ""
    repo: RepoRef | None = None


class GitHubIssue(_ApiObject):
    """`GET /repos/{o}/{r}/issues/{n}` (an object with `pull_request` is a PR, not an
    issue)."""

    number: int
    title: str = ""
    body: str | None = None
    state: str = ""
    html_url: str = ""
    pull_request: dict | None = None

    def text(self) -> str:
        """SWE-bench's problem statement of one issue: its title, then its body."""
        body = (self.body or "").replace("\r\n", "\n").strip()
        return f"{self.title.strip()}\n{body}\n" if body else f"{self.title.strip()}\n"


class PRFile(_ApiObject):
    """One object of `GET /repos/{o}/{r}/pulls/{n}/files` (`patch` is absent for a
    binary file or a very large diff)."""

    filename: str
    status: str = "modified"
    previous_filename: str | None = None
    patch: str | None = None


class PullRequest(_ApiObject):
    """A `GET /repos/{o}/{r}/pulls` object; a dump adds `diff`, `files` and `issues`."""

    number: int
    title: str = ""
    body: str | None = None
    state: str = ""
    merged_at: str | None = None
    created_at: str = ""
    html_url: str = ""
    merge_commit_sha: str | None = None
    base: BranchRef
    head: BranchRef | None = None
    diff: str | None = None
    files: list[PRFile] | None = None
    issues: list[GitHubIssue] | None = None

    @property
    def repo(self) -> str:
        """owner/name of the base repository ("" when the object does not say)."""
        return self.base.repo.full_name if self.base.repo else ""


class PRSource(Protocol):
    """Where pull requests come from: the same answers offline and online."""

    def pulls(self, repo: str) -> Iterator[PullRequest | str]:
        """Closed pull requests of `repo` (owner/name), newest first; a str for a record
        that could not be read (its reason, e.g. `malformed_record`)."""
        ...

    def diff(self, repo: str, pr: PullRequest) -> str | None:
        """The pull request's diff (git format), None when not available."""
        ...

    def linked(self, repo: str, pr: PullRequest) -> list[int]:
        """Numbers of the issues the pull request is linked to (closes), in order."""
        ...

    def issue(self, repo: str, pr: PullRequest, number: int) -> GitHubIssue | None:
        """Issue `number` of `repo`, None when it does not exist or is a pull request."""
        ...

    def close(self) -> None:
        """Release connections (when there are any)."""
        ...


_KEYWORDS = r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
_REF = re.compile(
    rf"\b{_KEYWORDS}:?\s+(?:(?P<repo>[\w.-]+/[\w.-]+)#|#|"
    r"https?://github\.com/(?P<urlrepo>[\w.-]+/[\w.-]+)/issues/)(?P<number>\d+)\b",
    re.IGNORECASE,
)


def linked_issue_numbers(body: str | None, repo: str) -> list[int]:
    """Issues of `repo` a pull request's body closes (`Fixes #12`, `closes owner/name#12`,
    `Resolves https://github.com/owner/name/issues/12`; GitHub's closing keywords), in
    order, each once. References to other repositories are left out."""
    out: list[int] = []
    for match in _REF.finditer(body or ""):
        other = match.group("repo") or match.group("urlrepo")
        if other and repo and other.lower() != repo.lower():
            continue
        number = int(match.group("number"))
        if number not in out:
            out.append(number)
    return out


def files_diff(files: list[PRFile]) -> str | None:
    """A git diff made of the `/pulls/{n}/files` objects' `patch` hunks; None when a file
    has no patch (binary, or too large for the API) other than a pure rename."""
    parts = []
    for f in files:
        old = f.previous_filename or f.filename
        head = f"diff --git a/{old} b/{f.filename}\n"
        if f.status == "renamed" and old != f.filename:
            head += f"rename from {old}\nrename to {f.filename}\n"
        if f.patch is None:
            if f.status == "renamed":
                parts.append(head)
                continue
            return None
        minus = "/dev/null" if f.status == "added" else f"a/{old}"
        plus = "/dev/null" if f.status == "removed" else f"b/{f.filename}"
        if f.status == "added":
            head += "new file mode 100644\n"
        elif f.status == "removed":
            head += "deleted file mode 100644\n"
        body = f.patch if f.patch.endswith("\n") else f.patch + "\n"
        parts.append(f"{head}--- {minus}\n+++ {plus}\n{body}")
    return "".join(parts)


class DumpSource:
    """Pull requests from a JSONL dump: one `PullRequest` object per line, with its
    `diff` (or `files`) and its linked `issues` embedded. Lines of other repositories
    (by `base.repo.full_name`) are skipped; a line that does not parse is reported as
    `malformed_record` (logged with its line number), never fatal."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"pull request dump {path}: no such file")

    def pulls(self, repo: str) -> Iterator[PullRequest | str]:
        other: set[str] = set()
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    pr = PullRequest.model_validate(json.loads(line))
                except (ValueError, ValidationError) as exc:
                    logger.warning("%s:%d: not a pull request object: %s", self.path, number,
                                   str(exc).splitlines()[0])  # fmt: skip
                    yield "malformed_record"
                    continue
                if pr.repo and pr.repo.lower() != repo.lower():
                    other.add(pr.repo)
                    continue
                yield pr
        if other:
            logger.info("%s: skipped pull requests of %s (not %s)", self.path, sorted(other), repo)

    def diff(self, repo: str, pr: PullRequest) -> str | None:
        if pr.diff is not None:
            return pr.diff
        return files_diff(pr.files) if pr.files else None

    def issue(self, repo: str, pr: PullRequest, number: int) -> GitHubIssue | None:
        for issue in pr.issues or []:
            if issue.number == number and issue.pull_request is None:
                return issue
        return None

    def close(self) -> None:
        pass  # nothing held open: each pulls() call opens and closes the file

    def linked(self, repo: str, pr: PullRequest) -> list[int]:
        """The body's closing references, then any other issue the dump embeds (linked
        some other way, e.g. in GitHub's sidebar)."""
        found = linked_issue_numbers(pr.body, repo)
        return found + [i.number for i in pr.issues or [] if i.number not in found]
