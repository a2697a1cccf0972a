"""Repository sources: resolution, clean checkouts of one commit, the per-commit cache."""

from __future__ import annotations

import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from swelego_ray.envs import (
    EnvBuildError,
    RepoSourceError,
    cached_checkout,
    materialize,
    resolve_source,
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_resolve_source_finds_plain_and_dot_git_dirs(tmp_path):
    (tmp_path / "a__b").mkdir()
    (tmp_path / "c__d.git").mkdir()
    assert resolve_source("a/b", tmp_path, None) == str(tmp_path / "a__b")
    assert resolve_source("c/d", tmp_path, None) == str(tmp_path / "c__d.git")
    assert resolve_source("x/y", tmp_path, "https://example.org/x/y.git").startswith("https://")


def test_resolve_source_error_lists_what_was_tried(tmp_path):
    with pytest.raises(RepoSourceError) as err:
        resolve_source("no/where", tmp_path, None)
    assert "no__where" in str(err.value) and "no__where.git" in str(err.value)
    assert isinstance(err.value, EnvBuildError)
    with pytest.raises(RepoSourceError, match="does not exist"):
        resolve_source("a/b", None, str(tmp_path / "missing"))


def test_materialize_keeps_only_history_up_to_commit(make_git_repo, tmp_path):
    repo, shas = make_git_repo([{"a.py": "1\n"}, {"a.py": "2\n"}, {"a.py": "3\n"}])
    git(repo, "tag", "v3")
    git(repo, "branch", "other", shas[2])
    dest = tmp_path / "out"
    assert materialize(str(repo), shas[1][:8], dest) == shas[1]
    assert (dest / "a.py").read_text() == "2\n"
    assert git(dest, "rev-parse", "HEAD") == shas[1]
    assert git(dest, "branch", "--format=%(refname:short)") == "main"
    assert git(dest, "remote") == ""
    assert git(dest, "tag") == ""
    assert git(dest, "log", "--all", "--format=%H").split() == [shas[1], shas[0]]
    missing = subprocess.run(["git", "cat-file", "-e", shas[2]], cwd=dest)
    assert missing.returncode != 0  # the future commit's objects were never fetched
    assert git(dest, "status", "--porcelain") == ""
    assert len(git(dest, "reflog").splitlines()) <= 1


def test_materialize_from_bare_mirror(make_git_repo, tmp_path):
    repo, shas = make_git_repo({"x.txt": "x\n"})
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(mirror)], check=True)
    dest = tmp_path / "out"
    assert materialize(str(mirror), shas[0], dest) == shas[0]
    assert (dest / "x.txt").read_text() == "x\n"


def test_materialize_plain_directory_is_one_reproducible_commit(tmp_path):
    src = tmp_path / "plain"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "m.py").write_text("x = 1\n")
    sha1 = materialize(str(src), "", tmp_path / "o1")
    sha2 = materialize(str(src), "HEAD", tmp_path / "o2")
    assert sha1 == sha2
    assert git(tmp_path / "o1", "log", "--format=%H").split() == [sha1]
    assert materialize(str(src), sha1, tmp_path / "o3") == sha1
    with pytest.raises(RepoSourceError, match="plain directory"):
        materialize(str(src), "deadbeef", tmp_path / "o4")


def test_materialize_errors(make_git_repo, tmp_path):
    repo, _ = make_git_repo({"a": "a"})
    with pytest.raises(RepoSourceError, match="unknown commit"):
        materialize(str(repo), "0" * 40, tmp_path / "o")
    with pytest.raises(RepoSourceError, match="does not exist"):
        materialize(str(tmp_path / "nope"), "HEAD", tmp_path / "o2")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    with pytest.raises(RepoSourceError, match="not empty"):
        materialize(str(repo), "HEAD", tmp_path / "full")


def test_no_repos_directory_names_the_flag_and_the_directory_names():
    with pytest.raises(RepoSourceError, match=r"--repos DIR .*acme__calc or acme__calc\.git"):
        resolve_source("acme/calc", None, None)


def test_cached_checkout_reuses_one_dir(make_git_repo, tmp_path):
    repo, shas = make_git_repo([{"a": "1"}, {"a": "2"}])
    cache = tmp_path / "cache"
    first = cached_checkout("o/r", str(repo), shas[0], cache)
    assert first == cached_checkout("o/r", str(repo), shas[0][:10], cache)
    assert first.name == shas[0]
    assert cached_checkout("o/r", str(repo), "main", cache).name == shas[1]
    leftovers = [p for p in first.parent.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def _checkout(args: tuple[str, str, str]) -> str:
    source, commit, cache = args
    return str(cached_checkout("o/r", source, commit, Path(cache)))


def test_cached_checkout_concurrent_processes_agree(make_git_repo, tmp_path):
    repo, shas = make_git_repo({"a": "1"})
    cache = tmp_path / "cache"
    with ProcessPoolExecutor(4) as pool:
        paths = set(pool.map(_checkout, [(str(repo), shas[0], str(cache))] * 6))
    assert len(paths) == 1
    (path,) = paths
    assert git(Path(path), "rev-parse", "HEAD") == shas[0]
    assert sorted(p.name for p in Path(path).parent.iterdir() if not p.name.startswith(".")) == [
        shas[0]
    ]


def test_materialize_from_a_git_url(make_git_repo, tmp_path):
    repo, shas = make_git_repo([{"a.py": "1\n"}, {"a.py": "2\n"}])
    url = f"file://{repo}"
    assert materialize(url, shas[0], tmp_path / "by-sha") == shas[0]
    assert (tmp_path / "by-sha" / "a.py").read_text() == "1\n"
    assert materialize(url, "main", tmp_path / "by-branch") == shas[1]  # via ls-remote
    with pytest.raises(RepoSourceError, match="full 40-hex commit sha"):
        materialize(url, shas[0][:8], tmp_path / "abbrev")
    with pytest.raises(RepoSourceError, match="cannot fetch commit"):
        materialize(url, "f" * 40, tmp_path / "missing")


def dated_git(repo: Path, date: str, *args: str) -> str:
    """git in `repo` with author and committer (and so tagger) date `date`."""
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@localhost",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@localhost",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_checkout_has_the_tags_up_to_its_commit_and_describes_like_a_clone(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    dated_git(repo, "2020-01-01T00:00:00Z", "init", "-q", "-b", "main")
    shas = []
    for i, date in enumerate(
        ["2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"]
    ):
        (repo / "a.py").write_text(f"{i}\n")
        dated_git(repo, date, "add", "a.py")
        dated_git(repo, date, "commit", "-q", "-m", f"c{i}")
        shas.append(dated_git(repo, date, "rev-parse", "HEAD"))
    dated_git(repo, "2020-01-02T00:00:00Z", "tag", "-a", "-m", "release", "v1.0", shas[0])
    dated_git(repo, "2020-01-03T00:00:00Z", "tag", "light", shas[0])  # lightweight
    # on the history, but tagged after the commit: a release made later, not known then
    dated_git(repo, "2020-02-15T00:00:00Z", "tag", "-a", "-m", "late", "v1.1", shas[0])
    dated_git(repo, "2020-03-02T00:00:00Z", "tag", "-a", "-m", "future", "v2.0", shas[2])
    dest = tmp_path / "out"
    materialize(str(repo), shas[1], dest)
    assert sorted(git(dest, "tag").split()) == ["light", "v1.0"]
    assert git(dest, "describe", "--tags", "--match", "v*") == f"v1.0-1-g{shas[1][:7]}"
    assert git(dest, "cat-file", "-t", "v1.0") == "tag"  # annotated, as in the source
    missing = subprocess.run(["git", "cat-file", "-e", shas[2]], cwd=dest)
    assert missing.returncode != 0  # still nothing of the future


def test_shallow_source_is_refused_naming_the_cut_and_the_fix(make_git_repo, tmp_path):
    repo, shas = make_git_repo([{"a.py": "1\n"}, {"a.py": "2\n"}, {"a.py": "3\n"}])
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True
    )
    with pytest.raises(RepoSourceError) as err:
        materialize(str(shallow), shas[2], tmp_path / "out")
    message = str(err.value)
    assert str(shallow) in message and "shallow clone" in message
    assert shas[2][:12] in message and "--unshallow" in message
