"""Strategy `prs`: merged pull requests that close an issue -> real tasks.

Each closed pull request of the repository (from `cfg.prs`: a JSONL dump of GitHub API
objects, or the REST API) goes through the filters below, in order, each failure counted
in the funnel under its reason: `duplicate`, `not_merged`, `created_before_cutoff`,
`no_linked_issue`, `diff_missing` / `malformed_diff`, the history strategy's
`no_test_change` / `no_source_change` / `files_out_of_bounds` (the same split of paths),
`binary_change`, `patch_too_large`, `base_missing` (the base sha is not in the local
repository), `issue_not_found`, `issue_too_short`, `does_not_apply` (at the base commit),
`does_not_compile`; an API failure is `api_error:<status>`. A kept one becomes a candidate:
`patch` = the diff's non-test files, `test_patch` = its test files, `base_commit` = the
PR's base sha, `created_at` = the PR's, problem statement = the linked issues' text.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from swelego_ray.gitsafe import HOST_GIT_TIMEOUT_S, GitError, git_argv, git_env, run_git
from swelego_ray.schema import Provenance
from swelego_ray.synth.candidates import Candidate, Features, Origin
from swelego_ray.synth.diffs import FileDiff, changed_line_count, split_diff
from swelego_ray.synth.funnel import SynthFunnel
from swelego_ray.synth.history import change_rejection, split_paths
from swelego_ray.synth.pulls import DumpSource, PRSource, PullRequest
from swelego_ray.synth.repos import RepoSnapshot
from swelego_ray.synth.strategies import register_strategy

if TYPE_CHECKING:
    from swelego_ray.synth.config import PRConfig, SynthConfig

logger = logging.getLogger(__name__)

STRATEGY = "prs"
KEY = (STRATEGY, "pull_request")
PR_META = "pull_request"  # task.meta key: number, url, issues, merged_at, head sha


def pr_source(prs: PRConfig) -> PRSource:
    """The configured source: the dump, else the REST API (token from `prs.token_env`)."""
    if prs.dump:
        return DumpSource(prs.dump)
    from swelego_ray.synth.github_api import GitHubSource

    token = os.environ.get(prs.token_env) or None
    if token is None:
        logger.warning("prs: $%s is not set: unauthenticated API requests (60/h)", prs.token_env)
    return GitHubSource(
        api_url=prs.api_url or "https://api.github.com",
        token=token,
        max_rate_wait_s=prs.max_rate_wait_s,
    )


def _iso(stamp: str) -> str:
    """An API timestamp as the tasks write it (UTC, `Z`); unchanged when unparsable."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Miner:
    """Turns one repository's pull requests into candidates (see the module docstring)."""

    snapshot: RepoSnapshot
    cfg: SynthConfig
    source: PRSource
    funnel: SynthFunnel
    seen: set[int] = field(default_factory=set)

    @property
    def prs(self) -> PRConfig:
        return self.cfg.prs

    def mine(self, pr: PullRequest) -> Candidate | str:
        """The candidate, or the reason `pr` is not one."""
        if pr.number in self.seen:
            return "duplicate"
        self.seen.add(pr.number)
        if not pr.merged_at:
            return "not_merged"
        if self.prs.created_after and _iso(pr.created_at) < _iso(self.prs.created_after):
            return "created_before_cutoff"
        numbers = self.source.linked(self.snapshot.repo, pr)
        if self.prs.require_issue and not numbers:
            return "no_linked_issue"
        change = self._change(pr)
        if isinstance(change, str):
            return change
        files, patch, test_patch = change
        if not self._has_commit(pr.base.sha):
            return "base_missing"
        statement = self._statement(pr, numbers)
        if statement is None:
            return "issue_not_found"
        if numbers and len(statement.split()) < self.prs.min_issue_words:
            return "issue_too_short"
        after = _apply(self.snapshot, pr.base.sha, files)
        if isinstance(after, str):
            return after
        self.funnel.reach(KEY, "applied")
        if not _compiles(after):
            return "does_not_compile"
        self.funnel.reach(KEY, "compiles")
        return self._candidate(pr, numbers, patch, test_patch, len(files), statement)

    def _change(self, pr: PullRequest) -> tuple[list[FileDiff], str, str] | str:
        """The diff's files, `patch` (non-test files) and `test_patch` (test files), or
        why the change is not a task's."""
        diff = self.source.diff(self.snapshot.repo, pr)
        if not diff or not diff.strip():
            return "diff_missing"
        try:
            files = split_diff(diff)
        except ValueError:
            return "malformed_diff"
        sources, tests = split_paths([f.path for f in files])
        reason = change_rejection(
            sources, tests, self.prs.min_files, self.prs.max_files,
            need_tests=self.prs.require_test_change, need_source=self.prs.require_source_change,
        )  # fmt: skip
        if reason:
            return reason
        if any(f.binary for f in files):
            return "binary_change"
        patch = "".join(f.text for f in files if f.path in sources)
        if self.prs.max_patch_lines and changed_line_count(patch) > self.prs.max_patch_lines:
            return "patch_too_large"
        return files, patch, "".join(f.text for f in files if f.path in tests)

    def _has_commit(self, sha: str) -> bool:
        if not sha or any(c not in "0123456789abcdefABCDEF" for c in sha):
            return False
        found = run_git("cat-file", "-e", f"{sha}^{{commit}}", cwd=self.snapshot.path)
        return found.returncode == 0

    def _statement(self, pr: PullRequest, numbers: list[int]) -> str | None:
        """The linked issues' text (title, body; each in turn); None when none of them
        exists. Without a linked issue (allowed by `require_issue: false`) "": the run's
        statement writer writes one."""
        if not numbers:
            return ""
        issues = [self.source.issue(self.snapshot.repo, pr, n) for n in numbers]
        found = [i for i in issues if i is not None]
        return "\n".join(i.text() for i in found) if found else None

    def _candidate(
        self,
        pr: PullRequest,
        numbers: list[int],
        patch: str,
        test_patch: str,
        files: int,
        statement: str,
    ) -> Candidate:
        snap = self.snapshot
        head = pr.head.sha if pr.head else ""
        return Candidate(
            instance_id=f"{snap.stem}.{STRATEGY}.{pr.number}",
            repo=snap.repo,
            base_commit=pr.base.sha,
            source=str(snap.path),
            env_spec=snap.env_spec,
            provenance=Provenance.REAL,
            origin=Origin(strategy=STRATEGY, transform=KEY[1], commit=pr.merge_commit_sha or head),
            features=Features(lines_changed=changed_line_count(patch), files=files),
            patch=patch,
            test_patch=test_patch,
            created_at=_iso(pr.created_at),
            hint=pr.title,
            problem_statement=statement,
            extra_meta={
                PR_META: {
                    "number": pr.number,
                    "url": pr.html_url,
                    "issues": numbers,
                    "merged_at": _iso(pr.merged_at or ""),
                    "head_sha": head,
                }
            },
        )


def _safe(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts


def _blob(snapshot: RepoSnapshot, commit: str, path: str) -> bytes | None:
    """The file's bytes at `commit` (None when it has no such file)."""
    shown = subprocess.run(
        git_argv("show", f"{commit}:{path}"), cwd=snapshot.path, env=git_env(),
        capture_output=True, timeout=HOST_GIT_TIMEOUT_S, check=False,
    )  # fmt: skip
    return shown.stdout if shown.returncode == 0 else None


def _apply(snapshot: RepoSnapshot, base: str, files: list[FileDiff]) -> dict[str, str] | str:
    """The changed Python files after the diff, applied by `git apply` to their text at
    `base` in a temporary directory (nothing of the repository runs); the drop reason
    when it does not apply."""
    if not all(_safe(p) for f in files for p in (f.path, f.old_path)):
        return "unsafe_path"
    with tempfile.TemporaryDirectory(prefix="swelego-pr-") as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        for path in sorted({p for f in files for p in (f.path, f.old_path)}):
            blob = _blob(snapshot, base, path)
            if blob is not None:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(blob)
        try:
            applied = run_git(
                "apply", "--whitespace=nowarn", "-", cwd=root,
                stdin="".join(f.text for f in files), env={"GIT_CEILING_DIRECTORIES": tmp},
            )  # fmt: skip
        except GitError:
            return "does_not_apply"
        if applied.returncode != 0:
            logger.debug("git apply: %s", applied.stderr[-500:])
            return "does_not_apply"
        return {
            f.path: (root / f.path).read_text(errors="replace")
            for f in files
            if f.path.endswith(".py") and (root / f.path).is_file()
        }


def _compiles(texts: dict[str, str]) -> bool:
    """Every changed Python file compiles (`compile()`: nothing runs)."""
    for path, text in texts.items():
        try:
            compile(text, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def pr_candidates(snapshot: RepoSnapshot, cfg: SynthConfig, funnel: SynthFunnel) -> list[Candidate]:
    """The strategy: `mine_pull_requests` from the configured source."""
    source = pr_source(cfg.prs)
    try:
        return mine_pull_requests(snapshot, cfg, funnel, source)
    finally:
        source.close()


def mine_pull_requests(
    snapshot: RepoSnapshot, cfg: SynthConfig, funnel: SynthFunnel, source: PRSource
) -> list[Candidate]:
    """Real tasks from the repository's merged pull requests in `source`, newest first,
    at most `cfg.budget()`, looking at `cfg.prs.max_pulls` pull requests."""
    from swelego_ray.synth.github_api import GitHubError

    miner = _Miner(snapshot, cfg, source, funnel)
    out: list[Candidate] = []
    looked = 0
    try:
        for item in source.pulls(snapshot.repo):
            if len(out) >= cfg.budget() or looked >= cfg.prs.max_pulls:
                break
            looked += 1
            funnel.reach(KEY, "candidates")
            try:
                found = miner.mine(item) if not isinstance(item, str) else item
            except GitHubError as exc:
                found = f"api_error:{exc.status or 'network'}"
            if isinstance(found, str):
                funnel.drop(KEY, found)
                label = "a record" if isinstance(item, str) else f"#{item.number}"
                logger.debug("prs %s %s: %s", snapshot.repo, label, found)
            else:
                out.append(found)
    except GitHubError as exc:  # the listing itself: this repository's PRs end here
        logger.warning("prs %s: listing pull requests failed: %s", snapshot.repo, exc)
        funnel.drop(KEY, "listing_failed")
    logger.info("prs %s: %d pull requests looked at, %d candidates", snapshot.repo, looked,
                len(out))  # fmt: skip
    return out


register_strategy(STRATEGY, pr_candidates)
