"""Host-side git on a testbed that a build step wrote (local backend): nothing the build puts
into `.git` runs on the host, reads host files into the repository, or writes outside it.

Each case is a build step (untrusted repository code, run in the build sandbox) that arms
`.git` so that git on the HOST would run `touch MARKER` (MARKER: a path under this test's
tmp dir, which the build sandbox cannot see: its /tmp is private). The build then either
succeeds with a reset `.git/config` or fails with an EnvBuildError saying why; the marker
never appears and the host paths the attack aimed at are unchanged. `live_before` cases are
checked against the old settle step (plain git, hooks off) first: the attack is real.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from swelego_ray.envs import EnvBuildError, Environment, EnvSpec
from swelego_ray.envs.builder import EnvBuilder
from swelego_ray.gitsafe import git_output

# The build's own edits: a tracked file changed (git commits it), an untracked artifact.
_EDITS = "echo edit >> README.md; mkdir -p build; touch build/artifact"
_ID = "git -c user.name=a -c user.email=a@localhost"
_HOOKS = "pre-commit commit-msg post-commit reference-transaction post-index-change"
_FSMONITOR_CFG = r"printf '[core]\n\tfsmonitor = touch {marker}; true\n'"


@dataclass(frozen=True)
class Attack:
    name: str
    script: str  # shell in the testbed; {marker}, {victim} and {secret} are host paths
    live_before: bool  # the old settle step ran it (or leaked / wrote) on the host
    refused: bool = False  # the build fails with a reason instead of succeeding safely


ATTACKS = [
    Attack("fsmonitor", "git config core.fsmonitor 'touch {marker}; true'", True),
    Attack(
        "hooks",
        "mkdir -p .git/evil-hooks; for h in " + _HOOKS + "; do "
        "printf '#!/bin/sh\\ntouch {marker}\\n' > .git/evil-hooks/$h; "
        "chmod +x .git/evil-hooks/$h; cp .git/evil-hooks/$h .git/hooks/$h; done; "
        "git config core.hooksPath .git/evil-hooks",
        False,  # the old step already set core.hooksPath=/dev/null
    ),
    Attack(
        "filter",
        "git config filter.x.clean 'touch {marker}; cat'; "
        "git config filter.x.smudge 'touch {marker}; cat'; git config filter.x.required true; "
        "echo '* filter=x' > .gitattributes; echo '* filter=x' > .git/info/attributes",
        True,
    ),
    Attack(
        "diff-external",
        "git config diff.external 'sh -c \"touch {marker}\"'; "
        "git config diff.x.textconv 'touch {marker}; cat'; echo '* diff=x' > .gitattributes",
        False,  # the settle step never diffs; checked anyway
    ),
    Attack(
        "pager",
        "git config core.pager 'touch {marker}; cat'; git config pager.status true; "
        "git config pager.commit true",
        False,  # no terminal, no pager; checked anyway
    ),
    Attack(
        "alias",
        "for c in status commit ls-files rev-parse; do git config alias.$c '!touch {marker}'; done",
        False,  # aliases never shadow built-in commands; checked anyway
    ),
    Attack(
        "include",
        _FSMONITOR_CFG + " > .git/evil.cfg; git config include.path evil.cfg",
        True,
    ),
    Attack(
        "worktree",  # git on the host would read a host file into the testbed's objects
        "git update-index --add --cacheinfo 100644,$(git hash-object -w /dev/null),secret.txt; "
        "git config core.worktree {secret}",
        True,
    ),
    Attack(
        "gitdir-file",
        "mv .git .hidden-git; echo 'gitdir: .hidden-git' > .git; "
        + _FSMONITOR_CFG
        + " >> .hidden-git/config",
        True,
        refused=True,
    ),
    Attack(
        "symlinked-info",  # the settle step appends to .git/info/exclude
        "rm -rf .git/info; ln -s {victim} .git/info",
        True,
        refused=True,
    ),
    Attack(
        "submodule",  # git recursing into a nested repository whose config it cannot reset
        "git init -q sub; cd sub; echo s > f; git add f; " + _ID + " commit -qm s; cd ..; "
        "git add sub; git -C sub config core.fsmonitor 'touch {marker}; true'; "
        "echo more >> sub/f",
        True,
    ),
]


def _old_settle(testbed: Path) -> None:
    """What EnvBuilder._settle_testbed did before gitsafe (the control)."""

    def git(*args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@localhost"}
        env |= {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@localhost"}
        return subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=testbed,
            capture_output=True,
            text=True,
            env=env,
        ).stdout

    if git("status", "--porcelain", "--untracked-files=no").strip():
        git("commit", "-q", "-a", "-m", "swelego: environment setup")
    untracked = git("ls-files", "--others", "--exclude-standard", "--directory").splitlines()
    exclude = testbed / ".git" / "info" / "exclude"
    with contextlib.suppress(OSError), open(exclude, "a") as handle:  # .git may be a file
        handle.writelines(f"/{path}\n" for path in untracked)


@pytest.fixture(scope="module")
def source(tmp_path_factory, make_git_repo_module) -> tuple[Path, str]:
    return make_git_repo_module(tmp_path_factory.mktemp("src") / "victim-repo")


@pytest.fixture(scope="module")
def make_git_repo_module():
    def make(path: Path) -> tuple[Path, str]:
        path.mkdir(parents=True)
        (path / "README.md").write_text("readme\n")
        (path / "pkg").mkdir()
        (path / "pkg" / "mod.py").write_text("VALUE = 1\n")
        git_output("init", "-q", "--initial-branch", "main", cwd=path)
        git_output("add", "-A", cwd=path)
        git_output(
            "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "c", cwd=path
        )
        return path, git_output("rev-parse", "HEAD", cwd=path).strip()

    return make


@dataclass
class HostPaths:
    marker: Path
    victim: Path  # a host directory an attack aims a symlink at
    secret: Path  # a host directory with secret.txt an attack points core.worktree at
    token: str

    def render(self, script: str) -> str:
        return script.format(marker=self.marker, victim=self.victim, secret=self.secret)

    def unchanged(self) -> bool:
        return (
            not self.marker.exists()
            and not any(self.victim.iterdir())
            and [p.name for p in self.secret.iterdir()] == ["secret.txt"]
            and (self.secret / "secret.txt").read_text() == self.token
        )


@pytest.fixture
def host(tmp_path) -> HostPaths:
    paths = HostPaths(tmp_path / "MARKER", tmp_path / "victim", tmp_path / "secret", "")
    paths.victim.mkdir()
    paths.secret.mkdir()
    paths.token = f"host-secret-{os.urandom(8).hex()}"
    (paths.secret / "secret.txt").write_text(paths.token)
    return paths


def _leaked(testbed: Path, token: str) -> bool:
    """Whether `token` is anywhere in the testbed's files or its git objects."""
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=testbed,
        capture_output=True,
    ).stdout
    grep = subprocess.run(["grep", "-rqF", token, str(testbed)], capture_output=True)
    return token.encode() in objects or grep.returncode == 0


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.live_before], ids=lambda a: a.name)
def test_control_the_attack_worked_on_the_old_settle_step(attack, source, host, tmp_path):
    """Run on the host, as the build step would have left it, the old step is hit."""
    testbed = tmp_path / "testbed"
    subprocess.run(["cp", "-a", f"{source[0]}/.", str(testbed)], check=True)
    script = f"{_EDITS}; {host.render(attack.script)}"
    subprocess.run(["bash", "-c", script], cwd=testbed, check=True, capture_output=True)
    _old_settle(testbed)
    assert not host.unchanged() or _leaked(testbed, host.token)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_build_step_cannot_make_host_git_run_its_code(attack, source, host, tmp_path):
    repo, sha = source
    spec = EnvSpec(python="3.11", install=[f"{_EDITS}; {host.render(attack.script)}"])
    env = Environment(repo=f"attack/{attack.name}", commit=sha, source=str(repo), spec=spec)
    builder = EnvBuilder(tmp_path / "cache")
    if attack.refused:
        with pytest.raises(EnvBuildError, match="refused") as err:
            builder.ensure(env)
        assert "symlink" in str(err.value) or "not a plain directory" in str(err.value)
        assert builder.cached(env) is None
    else:
        built = builder.ensure(env)
        config = (built.testbed / ".git" / "config").read_text()
        assert "fsmonitor" not in config and "hooksPath" not in config and "filter" not in config
        assert "include" not in config and "worktree" not in config and "alias" not in config
        committed = git_output("show", "HEAD:README.md", cwd=built.testbed)
        assert committed == "readme\nedit\n"  # the build's edit is committed as before
        assert git_output("status", "--porcelain", cwd=built.testbed) == ""
        assert not _leaked(built.testbed, host.token)
    assert host.unchanged(), f"{attack.name}: the host changed"
