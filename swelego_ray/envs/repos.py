"""Repository sources and clean, cached checkouts of one commit.

A source is a local directory (plain or a git checkout), a local git mirror (bare or
not), or a git URL. `materialize` turns (source, commit) into a checkout whose .git holds
only the history up to that commit: one local branch, no remotes, a fresh reflog, and of
a local source's tags only those on that history and not newer than the commit (so
versioneer / setuptools_scm see the version a clone had then, not 0+untagged), so an agent
cannot `git log --all` its way to the fix. A shallow source (history cut short) is refused
with what to do about it: builds and sanitising need the whole history up to the commit.
`cached_checkout` keeps one such checkout per (repo, commit) under a cache root, safe
across processes.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

from swelego_ray.envs._spec import EnvBuildError
from swelego_ray.gitsafe import GitError, reset_repo_config, run_git
from swelego_ray.storage import default_cache_root, file_lock

logger = logging.getLogger(__name__)

BRANCH = "main"
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_URL_RE = re.compile(r"^([a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
# A fixed identity and clock make the snapshot commit of a plain directory reproducible.
# Every git here runs through swelego_ray.gitsafe: sources are untrusted repositories.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "swelego",
    "GIT_AUTHOR_EMAIL": "swelego@localhost",
    "GIT_COMMITTER_NAME": "swelego",
    "GIT_COMMITTER_EMAIL": "swelego@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
_FETCH_TIMEOUT_S = 3600.0  # a large repository over the network
_TAGS_PER_FETCH = 500  # refspecs per git fetch (command-line length)
RUN_CACHES = (
    "__pycache__/", "*.py[co]", ".pytest_cache/", ".hypothesis/", ".mypy_cache/", ".tox/",
)  # fmt: skip


class RepoSourceError(EnvBuildError):
    """A repository source is missing or unusable, or lacks the requested commit."""


def is_url(source: str) -> bool:
    return bool(_URL_RE.match(source))


def resolve_source(repo: str, repos_dir: Path | str | None, explicit: str | None) -> str:
    """Where to fetch `repo` (owner/name) from: `explicit` if given, else a directory
    `repos_dir/owner__name` or `repos_dir/owner__name.git`."""
    if explicit:
        if not is_url(explicit) and not Path(explicit).expanduser().exists():
            raise RepoSourceError(f"{repo}: source {explicit!r} does not exist")
        return explicit if is_url(explicit) else str(Path(explicit).expanduser().resolve())
    if repos_dir is None:
        raise RepoSourceError(
            f"{repo}: no source given and no repos directory to look in (--repos DIR / "
            f"repos_dir, holding {repo.replace('/', '__')} or {repo.replace('/', '__')}.git)"
        )
    stem = repo.replace("/", "__")
    tried = [Path(repos_dir).expanduser() / stem, Path(repos_dir).expanduser() / f"{stem}.git"]
    for candidate in tried:
        if candidate.is_dir():
            return str(candidate.resolve())
    raise RepoSourceError(
        f"{repo}: no repository source found; tried {', '.join(str(p) for p in tried)}"
    )


GITHUB_URL = "https://github.com/{repo}.git"
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def mirror_path(repo: str, repos_dir: Path | str) -> Path:
    """Where a clone of `repo` (owner/name) goes: `repos_dir/owner__name.git`."""
    return Path(repos_dir).expanduser() / f"{repo.replace('/', '__')}.git"


def clone_mirror(repo: str, repos_dir: Path | str, url_template: str = GITHUB_URL) -> Path:
    """Clone `repo` (owner/name) from `url_template` (`{repo}`, `{owner}`, `{name}`) as a
    bare repository `repos_dir/owner__name.git` (branches and tags), or return the mirror
    already there. Safe across processes; a failed clone leaves nothing behind and raises
    RepoSourceError naming the URL and the mirror path to provide by hand when offline."""
    if not _REPO_RE.match(repo) or ".." in repo:
        raise RepoSourceError(f"{repo!r}: not an owner/name repository name")
    owner, name = repo.split("/")
    url = url_template.format(repo=repo, owner=owner, name=name)
    dest = mirror_path(repo, repos_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(dest.parent / f".{dest.name}.lock"):
        if _is_git_dir(dest):
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            proc = run_git(
                "clone",
                "--bare",
                "--",
                url,
                str(tmp / "repo"),
                env=_GIT_ENV,
                timeout_s=_FETCH_TIMEOUT_S,
            )
            if proc.returncode != 0:
                raise RepoSourceError(
                    f"{repo}: cannot clone {url} (offline, or no such repository?): "
                    f"{proc.stderr.strip()[-1000:]}; without a network, put a clone at {dest}"
                )
            (tmp / "repo").rename(dest)
        except GitError as exc:
            raise RepoSourceError(f"{repo}: cloning {url} timed out: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("cloned %s from %s into %s", repo, url, dest)
    return dest


def _git(*args: str, cwd: Path | str | None = None, check: bool = True) -> str:
    try:
        proc = run_git(*args, cwd=cwd, env=_GIT_ENV)
    except GitError as exc:  # timed out
        raise RepoSourceError(str(exc)) from exc
    if check and proc.returncode != 0:
        raise RepoSourceError(f"git {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def _is_git_dir(path: Path) -> bool:
    """A checkout (has .git) or a bare repository (HEAD, objects/, refs/) at exactly `path`."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def resolve_commit(source: str, commit: str) -> str:
    """The full sha of `commit` (sha, abbreviation, branch or tag) in a git source."""
    if is_url(source):
        if _SHA_RE.match(commit.lower()):
            return commit.lower()
        out = _git("ls-remote", source, commit)
        shas = {line.split()[0] for line in out.splitlines() if line.strip()}
        if len(shas) != 1:
            raise RepoSourceError(
                f"{source}: cannot resolve {commit!r} remotely; give a full 40-hex commit sha"
            )
        return shas.pop()
    path = Path(source)
    if not path.is_dir():
        raise RepoSourceError(f"source {source!r} is not a directory or git URL")
    if not _is_git_dir(path):
        raise RepoSourceError(f"source {source!r} is a plain directory, not a git repository")
    proc = run_git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", cwd=path)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RepoSourceError(f"{source}: unknown commit {commit!r}")
    return proc.stdout.strip()


def commit_date(source: str, commit: str) -> str | None:
    """`commit`'s committer date (ISO 8601) in a local git source, else None."""
    if is_url(source) or not _is_git_dir(Path(source).expanduser()):
        return None
    date = _git("log", "-1", "--format=%cI", commit, "--", cwd=source, check=False).strip()
    return date or None


def materialize(source: str, commit: str, dest: Path | str) -> str:
    """Check out exactly `commit` of `source` into `dest` (absent or empty); return its sha.

    For a plain (non-git) directory, `commit` must be "" or "HEAD" or the snapshot's sha:
    the files are copied and committed once with a fixed author and date.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise RepoSourceError(f"destination {dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    src_path = None if is_url(source) else Path(source).expanduser()
    if src_path is not None and not src_path.is_dir():
        raise RepoSourceError(f"source {source!r} does not exist or is not a directory")
    if src_path is not None and not _is_git_dir(src_path):
        return _snapshot_plain_dir(src_path, commit, dest)

    sha = resolve_commit(source, commit)
    _git("init", "-q", "--initial-branch", BRANCH, str(dest))
    fetch = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", source, sha)
    try:
        proc = run_git(*fetch, cwd=dest, env=_GIT_ENV, timeout_s=_FETCH_TIMEOUT_S)
    except GitError as exc:
        raise RepoSourceError(f"{source}: cannot fetch commit {sha}: {exc}") from exc
    if proc.returncode != 0:
        raise RepoSourceError(f"{source}: cannot fetch commit {sha}: {proc.stderr.strip()[-2000:]}")
    _refuse_incomplete(dest, source, sha)
    _git("update-ref", "-m", f"swelego: checkout {sha}", f"refs/heads/{BRANCH}", sha, cwd=dest)
    _git("checkout", "-q", "-f", BRANCH, cwd=dest)
    if not is_url(source):
        _fetch_tags(source, sha, dest)
    _finish_checkout(dest)
    return sha


def _git_dir(source: str) -> Path:
    """The git directory of a local source (a checkout's .git, or the bare repository)."""
    path = Path(source).expanduser()
    return path / ".git" if (path / ".git").is_dir() else path


def _refuse_incomplete(dest: Path, source: str, sha: str) -> None:
    """RepoSourceError when the history of `sha` fetched into `dest` is not whole: a
    shallow source (history cut at its .git/shallow commits; git's fetch then leaves
    commits without their parents and says nothing) or any other missing commit. Names
    the source, where the history is cut, and the fix."""
    shallow = [] if is_url(source) else _git_dir(source) / "shallow"
    cut = shallow.read_text().split() if shallow and shallow.is_file() else []
    walk = run_git("rev-list", "--count", sha, cwd=dest, env=_GIT_ENV)
    if walk.returncode == 0:
        return
    if cut:
        where = f"is a shallow clone: history cut at {', '.join(c[:12] for c in cut[:3])}"
        where += " ..." if len(cut) > 3 else ""
    else:
        where = f"gave an incomplete history of {sha[:12]}: {walk.stderr.strip()[-500:]}"
    raise RepoSourceError(
        f"{source} {where}; a checkout of {sha[:12]} needs the whole history up to it "
        "(sanitising and version lookups read it). Make the source complete: "
        "`git -C SOURCE fetch --unshallow`, or mirror it again with `git clone --mirror URL`"
    )


def tags_up_to(source: str, sha: str) -> list[str]:
    """The tag refs of a local git `source` on `sha`'s history (merged into it) and not
    newer than it (tag date, or the tagged commit's date, at most sha's commit date)."""
    when = int(_git("log", "-1", "--format=%ct", sha, "--", cwd=source) or 0)
    listing = _git(
        "for-each-ref",
        f"--merged={sha}",
        "--format=%(refname) %(creatordate:unix)",
        "refs/tags",
        cwd=source,
    )
    tags = []
    for line in listing.splitlines():
        ref, _, stamp = line.rpartition(" ")
        if ref.startswith("refs/tags/") and stamp.isdigit() and int(stamp) <= when:
            tags.append(ref)
    return tags


def _fetch_tags(source: str, sha: str, dest: Path) -> None:
    """Copy `tags_up_to(source, sha)` into the checkout at `dest` (their commits are
    already there; annotated tag objects come with them)."""
    tags = tags_up_to(source, sha)
    for start in range(0, len(tags), _TAGS_PER_FETCH):
        refspecs = [f"{ref}:{ref}" for ref in tags[start : start + _TAGS_PER_FETCH]]
        fetch = ("fetch", "-q", "--no-tags", "--no-write-fetch-head", source, *refspecs)
        try:
            proc = run_git(*fetch, cwd=dest, env=_GIT_ENV, timeout_s=_FETCH_TIMEOUT_S)
        except GitError as exc:
            raise RepoSourceError(f"{source}: cannot fetch the tags of {sha}: {exc}") from exc
        if proc.returncode != 0:
            raise RepoSourceError(
                f"{source}: cannot fetch the tags of {sha}: {proc.stderr.strip()[-2000:]}"
            )


def _snapshot_plain_dir(src: Path, commit: str, dest: Path) -> str:
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    _git("init", "-q", "--initial-branch", BRANCH, cwd=dest)
    _git("add", "-A", "--force", cwd=dest)
    _git("commit", "-q", "--allow-empty", "-m", f"snapshot of {src.name}", cwd=dest)
    sha = _git("rev-parse", "HEAD", cwd=dest)
    if commit not in ("", "HEAD", sha):
        raise RepoSourceError(
            f"{src} is a plain directory; its snapshot commit is {sha}, not {commit!r}"
        )
    _finish_checkout(dest)
    return sha


def _finish_checkout(dest: Path) -> None:
    """gitsafe's fixed config (with a local identity for commits made later); a reflog
    with only the checkout in it; test run caches ignored by git."""
    reset_repo_config(dest)
    _git("reflog", "expire", "--expire=now", "--all", cwd=dest)
    for leftover in ("FETCH_HEAD", "ORIG_HEAD"):
        (dest / ".git" / leftover).unlink(missing_ok=True)
    # Caches written by running tests never belong in a diff.
    exclude = dest / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with open(exclude, "a") as handle:
        handle.write("# swelego: caches written by test runs\n" + "\n".join(RUN_CACHES) + "\n")


def cached_checkout(repo: str, source: str, commit: str, cache_root: Path | None = None) -> Path:
    """A shared, read-mostly checkout of `repo` at `commit`, built once per cache root.

    Built into a temporary directory and renamed into place under a file lock, so
    concurrent processes never see a half-made checkout. Callers must not modify it.
    """
    root = (cache_root or default_cache_root()) / "checkouts" / repo.replace("/", "__")
    is_plain = not is_url(source) and not _is_git_dir(Path(source))
    if is_plain:
        # The snapshot sha is only known after copying; build, then keep it under its sha.
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            sha = materialize(source, commit, tmp)
            final = root / sha
            with file_lock(root / f".{sha}.lock"):
                if not final.exists():
                    tmp.rename(final)
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    sha = resolve_commit(source, commit)
    final = root / sha
    if final.exists():
        return final
    with file_lock(root / f".{sha}.lock"):
        if final.exists():
            return final
        for stale in root.glob(f".tmp-{sha}-*"):  # left by a crashed process; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{sha}-", dir=root))
        try:
            materialize(source, sha, tmp)
            tmp.rename(final)
            logger.info("checked out %s@%s into %s", repo, sha[:12], final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
