"""The sample repositories that the tests and the demo run on, as deterministic git repos.

`examples/packages/<name>` holds each sample package as a plain source tree at its base
state. `materialize_sample_repos(dest)` turns each into a git repository at
`dest/swelego-samples__<name>` whose commit hashes are the same on every machine (fixed
authors, dates and messages; files hashed raw, mode 100644, in sorted order; no hooks, no
user or system git config), so that `examples/tasks.jsonl` can name the base commit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swelego_ray.gitsafe import run_git

logger = logging.getLogger(__name__)

SAMPLES_OWNER = "swelego-samples"
AUTHOR_NAME = "swelego samples"
AUTHOR_EMAIL = "samples@swelego.invalid"
_IGNORED_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv"}
_IGNORED_DIRS |= {"build", "dist"}
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".egg-info")


@dataclass(frozen=True)
class _CommitSpec:
    message: str
    timestamp: int  # seconds since the epoch, UTC
    late: bool  # False: only files outside tests/ and README.md; True: every file


# A small, natural history: the library first, then its tests and README. The tip is the
# base commit of every sample task.
_HISTORY = (
    _CommitSpec("Initial import of the library", 1705309200, late=False),  # 2024-01-15 09:00
    _CommitSpec("Add test suite and README", 1706778000, late=True),  # 2024-02-01 09:00
)


def examples_dir() -> Path:
    """The project's examples/ directory (it ships with a source checkout, not a wheel)."""
    path = Path(__file__).resolve().parent.parent / "examples"
    if not (path / "packages").is_dir():
        raise FileNotFoundError(
            f"sample packages not found: expected {path / 'packages'} next to the swelego_ray "
            "package; the samples ship with a source checkout installed with `pip install -e .`"
        )
    return path


def sample_tasks_path() -> Path:
    """examples/tasks.jsonl: the SWE-bench-format tasks on the sample repositories."""
    path = examples_dir() / "tasks.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/make_sample_tasks.py")
    return path


def sample_predictions_path() -> Path:
    """examples/predictions-sample.jsonl: SWE-bench-format predictions for the demo."""
    path = examples_dir() / "predictions-sample.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run scripts/make_sample_tasks.py")
    return path


def sample_names() -> list[str]:
    """Names of the sample packages, sorted."""
    root = examples_dir() / "packages"
    return sorted(p.name for p in root.iterdir() if (p / "pyproject.toml").is_file())


def sample_repo(name: str) -> str:
    """The `repo` field of the sample's tasks: `swelego-samples/<name>`."""
    return f"{SAMPLES_OWNER}/{name}"


def sample_repo_dir(dest: Path, name: str) -> Path:
    """Where `materialize_sample_repos(dest)` puts sample `name`."""
    return Path(dest) / f"{SAMPLES_OWNER}__{name}"


def sample_files(name: str) -> dict[str, Path]:
    """The sample's files by POSIX path relative to its root, build artefacts skipped."""
    root = examples_dir() / "packages" / name
    if not root.is_dir():
        raise FileNotFoundError(f"no sample package {name!r} in {root.parent}")
    files: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _IGNORED_DIRS and not _ignored(d)]
        for filename in filenames:
            path = Path(dirpath) / filename
            if _ignored(filename) or path.is_symlink():
                continue
            files[path.relative_to(root).as_posix()] = path
    return dict(sorted(files.items()))


def _ignored(name: str) -> bool:
    return name.endswith(_IGNORED_SUFFIXES)


def _in_commit(path: str, spec: _CommitSpec) -> bool:
    return spec.late or not (path.startswith("tests/") or path == "README.md")


# -- commit hashes computed in Python (no git needed to know the base commit) --------------


def _git_object(kind: str, body: bytes) -> bytes:
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).digest()


def _tree(blobs: dict[str, bytes]) -> bytes:
    """The binary id of the tree holding `blobs` (path -> blob id), git's entry order."""
    files: dict[str, bytes] = {}
    dirs: dict[str, dict[str, bytes]] = {}
    for path, blob in blobs.items():
        head, sep, rest = path.partition("/")
        if sep:
            dirs.setdefault(head, {})[rest] = blob
        else:
            files[head] = blob
    entries = [(name, b"100644", blob) for name, blob in files.items()]
    entries += [(name, b"40000", _tree(sub)) for name, sub in dirs.items()]
    # git orders a directory as if its name ended with "/"
    entries.sort(key=lambda e: e[0].encode() + (b"/" if e[1] == b"40000" else b""))
    body = b"".join(mode + b" " + name.encode() + b"\0" + oid for name, mode, oid in entries)
    return _git_object("tree", body)


def _commit_body(tree: str, parent: str | None, spec: _CommitSpec) -> bytes:
    who = f"{AUTHOR_NAME} <{AUTHOR_EMAIL}> {spec.timestamp} +0000"
    lines = [f"tree {tree}"] + ([f"parent {parent}"] if parent else [])
    lines += [f"author {who}", f"committer {who}", "", spec.message]
    return ("\n".join(lines) + "\n").encode()


def expected_commits(name: str) -> list[str]:
    """The commit ids of sample `name`'s history, oldest first; the last is the base."""
    blobs = {p: _git_object("blob", f.read_bytes()) for p, f in sample_files(name).items()}
    commits: list[str] = []
    for spec in _HISTORY:
        tree = _tree({p: b for p, b in blobs.items() if _in_commit(p, spec)}).hex()
        body = _commit_body(tree, commits[-1] if commits else None, spec)
        commits.append(_git_object("commit", body).hex())
    return commits


def expected_head(name: str) -> str:
    """The base commit of sample `name` (what its tasks' `base_commit` must be)."""
    return expected_commits(name)[-1]


# -- building the repositories ----------------------------------------------------------


def _git_env(spec: _CommitSpec | None = None) -> dict[str, str]:
    """What gitsafe.git_env adds to: C locale, and the fixed identity and date of `spec`."""
    env = {"LC_ALL": "C"}
    if spec is not None:
        when = f"{spec.timestamp} +0000"
        env |= {"GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL}
        env |= {"GIT_COMMITTER_NAME": AUTHOR_NAME, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL}
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    return env


def _git(repo: Path, *args: str, stdin: str = "", spec: _CommitSpec | None = None) -> str:
    # gitsafe: a directory at the samples path may hold anything (a stale or edited copy)
    result = run_git(*args, cwd=repo, env=_git_env(spec), stdin=stdin)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def _is_current(repo: Path, head: str) -> bool:
    """True if `repo` is the sample at `head` on branch main with a clean work tree."""
    if not (repo / ".git").is_dir():
        return False
    try:
        return (
            _git(repo, "rev-parse", "HEAD") == head
            and _git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
            and _git(repo, "status", "--porcelain", "--untracked-files=all") == ""
        )
    except RuntimeError:
        return False


def _build(repo: Path, name: str) -> str:
    files = sample_files(name)
    _git(repo.parent, "-c", "init.defaultBranch=main", "init", "-q", "--template=", repo.name)
    for key, value in {"core.autocrlf": "false", "core.fileMode": "true"}.items():
        _git(repo, "config", key, value)
    paths = list(files)
    blob_ids = _git(
        repo,
        "hash-object",
        "-w",
        "--no-filters",
        "--stdin-paths",
        stdin="\n".join(str(files[p]) for p in paths) + "\n",
    ).split("\n")
    blobs = dict(zip(paths, blob_ids, strict=True))
    parent: str | None = None
    for spec in _HISTORY:
        _git(repo, "read-tree", "--empty")
        index = "".join(f"100644 {b}\t{p}\n" for p, b in blobs.items() if _in_commit(p, spec))
        _git(repo, "update-index", "--add", "--index-info", stdin=index)
        tree = _git(repo, "write-tree")
        args = ["commit-tree", tree, "-m", spec.message] + (["-p", parent] if parent else [])
        parent = _git(repo, "-c", "commit.gpgSign=false", *args, spec=spec)
    assert parent is not None
    _git(repo, "update-ref", "refs/heads/main", parent)
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "reset", "-q", "--hard", "main")
    return parent


def materialize_sample_repos(dest: str | Path) -> Path:
    """Build (or reuse) a git repo per sample at `dest/swelego-samples__<name>`; returns dest.

    An existing repository is kept when it is at the expected base commit, on main, with
    a clean work tree; otherwise it is rebuilt. Each repo is built in a temporary
    directory and moved into place, so concurrent callers never see a half-built repo.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in sample_names():
        repo = sample_repo_dir(dest, name)
        head = expected_head(name)
        if _is_current(repo, head):
            continue
        logger.info("building sample repository %s at %s", sample_repo(name), repo)
        with tempfile.TemporaryDirectory(dir=dest, prefix=f".build-{name}-") as tmp:
            staging = Path(tmp) / repo.name
            built = _build(staging, name)
            if built != head:
                raise RuntimeError(
                    f"sample {name}: git built {built} but the expected base commit is {head}"
                )
            if repo.exists():
                shutil.rmtree(repo)
            os.replace(staging, repo)
    return dest
