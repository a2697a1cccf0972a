"""Strategy `history`: commits that change library code and its tests -> real tasks.

Each first-parent commit of the snapshot (merges included, compared with their first
parent) whose change touches both non-test Python code and test files becomes a
candidate: `patch` = the non-test part, `test_patch` = the test part, `base_commit` = the
parent, `created_at` = the commit's date. Validation keeps it when the tests it adds or
changes fail before the fix and pass after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from swelego_ray.gitsafe import DIFF_FLAGS, GitError, git_output
from swelego_ray.schema import Provenance
from swelego_ray.synth.candidates import Candidate, Features, Origin
from swelego_ray.synth.diffs import changed_line_count
from swelego_ray.synth.funnel import SynthFunnel
from swelego_ray.synth.repos import RepoSnapshot, is_source_path, is_test_path

if TYPE_CHECKING:
    from swelego_ray.synth.config import SynthConfig

STRATEGY = "history"
KEY = (STRATEGY, "commit")


def _git(snapshot: RepoSnapshot, *args: str) -> str:
    return git_output(*args, cwd=snapshot.path)


def _diff(snapshot: RepoSnapshot, parent: str, commit: str, paths: list[str]) -> str:
    if not paths:
        return ""
    return _git(snapshot, "diff", *DIFF_FLAGS.split(), "--no-renames", "--full-index",
                parent, commit, "--", *paths)  # fmt: skip


def split_paths(files: list[str]) -> tuple[list[str], list[str]]:
    """Changed paths -> (non-test paths, test paths): what goes to `patch` and to
    `test_patch` (the `prs` strategy splits a pull request's diff the same way)."""
    tests = [f for f in files if is_test_path(f)]
    return [f for f in files if f not in tests], tests


def change_rejection(
    sources: list[str],
    tests: list[str],
    min_files: int,
    max_files: int,
    *,
    need_tests: bool = True,
    need_source: bool = True,
) -> str:
    """Why a change split by `split_paths` is not a real task ("" when it is one): no test
    change, no library Python change, or a number of changed files outside the bounds."""
    if need_tests and not tests:
        return "no_test_change"
    if need_source and not any(is_source_path(f) for f in sources):
        return "no_source_change"
    if not min_files <= len(sources) + len(tests) <= max_files:
        return "files_out_of_bounds"
    return ""


def _compiles(snapshot: RepoSnapshot, commit: str, files: list[str]) -> bool:
    """Every changed Python file (still present) compiles at `commit` (nothing runs)."""
    for path in files:
        if not path.endswith(".py"):
            continue
        try:
            text = _git(snapshot, "show", f"{commit}:{path}")
        except GitError:
            continue  # deleted by the commit
        try:
            compile(text, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


def _rejection(cfg: SynthConfig, parents: list[str], sources: list[str], tests: list[str]) -> str:
    if not parents:
        return "root_commit"
    return change_rejection(sources, tests, cfg.history.min_files, cfg.history.max_files)


def history_candidates(
    snapshot: RepoSnapshot, cfg: SynthConfig, funnel: SynthFunnel
) -> list[Candidate]:
    """Fix commits of the snapshot's history, newest first, at most `cfg.budget()`."""
    shas = _git(
        snapshot, "rev-list", "--first-parent", f"--max-count={cfg.history.max_commits}",
        snapshot.commit,
    ).split()  # fmt: skip
    out: list[Candidate] = []
    for sha in shas:
        if len(out) >= cfg.budget():
            break
        funnel.reach(KEY, "candidates")
        parents = _git(snapshot, "rev-list", "--parents", "-n", "1", sha).split()[1:]
        files: list[str] = []
        if parents:
            names = _git(snapshot, "diff", "--name-only", "-z", "--no-renames", parents[0], sha)
            files = sorted(f for f in names.split("\0") if f)
        sources, tests = split_paths(files)
        reason = _rejection(cfg, parents, sources, tests)
        if reason:
            funnel.drop(KEY, reason)
            continue
        patch = _diff(snapshot, parents[0], sha, sources)
        test_patch = _diff(snapshot, parents[0], sha, tests)
        if "\nBinary files " in f"\n{patch}{test_patch}" or "GIT binary patch" in patch:
            funnel.drop(KEY, "binary_change")
            continue
        funnel.reach(KEY, "applied")
        if not _compiles(snapshot, sha, files):
            funnel.drop(KEY, "does_not_compile")
            continue
        funnel.reach(KEY, "compiles")
        out.append(_candidate(snapshot, sha, parents[0], patch, test_patch, len(files)))
    return out


def _candidate(
    snapshot: RepoSnapshot, sha: str, parent: str, patch: str, test_patch: str, files: int
) -> Candidate:
    message = _git(snapshot, "show", "-s", "--format=%B", sha).strip()
    return Candidate(
        instance_id=f"{snapshot.stem}.{STRATEGY}.{sha[:12]}",
        repo=snapshot.repo,
        base_commit=parent,
        source=str(snapshot.path),
        env_spec=snapshot.env_spec,
        provenance=Provenance.REAL,
        origin=Origin(strategy=STRATEGY, transform="commit", commit=sha),
        features=Features(lines_changed=changed_line_count(patch), files=files),
        patch=patch,
        test_patch=test_patch,
        created_at=snapshot.commit_date(sha),
        hint=message,
    )
