"""git on untrusted repositories, with a configuration the repository cannot change.

A repository's own `.git/config` (and what a build, a patch or an agent writes into it) can
make git run commands: `core.fsmonitor`, hooks, `filter.*` drivers, `diff.external`,
textconv, `core.pager`, aliases, `core.sshCommand`, includes, signature programs, and the
same again in a nested repository that git recurses into as a submodule. Host-side git on
a workspace that untrusted code touched therefore (1) checks and resets that workspace's
`.git` (`reset_repo_config`: a plain directory without symlinks or special files, its
config replaced by a fixed, minimal one) and (2) runs with the options and environment
below (`run_git`, `git_output`), which also win over anything left in system or global
files. Git on a repository this project did not make (a local source or mirror) gets (2)
only. In-sandbox git (patching, diffs, sanitisation) uses the same options (`GIT_SHELL`),
so the harness's git never runs a hook.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

# `-c` settings that disarm every way a repository's configuration runs a command.
SAFE_OPTIONS: tuple[str, ...] = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=true",
    "core.askPass=true",
    "core.sshCommand=false",
    "core.alternateRefsCommand=true",
    "credential.helper=",
    "diff.external=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "log.showSignature=false",
    "gpg.program=false",
    "gpg.ssh.program=false",
    "gpg.x509.program=false",
    "protocol.ext.allow=never",
    # no recursion into nested repositories, whose own config this process cannot reset
    "submodule.recurse=false",
    "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false",
    "fetch.recurseSubmodules=false",
    # no background gc / maintenance processes started by a commit
    "gc.auto=0",
    "maintenance.auto=false",
)
# Environment for every git process: no system or user configuration at all.
SAFE_ENV: dict[str, str] = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
}
HOST_GIT_TIMEOUT_S = 600.0

# The whole `.git/config` of a checkout after `reset_repo_config`.
_MINIMAL_CONFIG = """[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
\tlogallrefupdates = false
[user]
\tname = swelego
\temail = swelego@localhost
"""
# Files under .git that configure git (or point it elsewhere); removed by the reset.
_CONFIG_FILES = (
    "config",
    "config.worktree",
    "info/attributes",
    "objects/info/alternates",
    "commondir",
)


def git_argv(*args: str) -> list[str]:
    """argv for `git <args>` with the safe options."""
    options = [part for option in SAFE_OPTIONS for part in ("-c", option)]
    return ["git", *options, *args]


# The same, as a shell word sequence for scripts run inside sandboxes.
GIT_SHELL = shlex.join(git_argv())
# Diff flags that keep external diff programs and textconv filters out.
DIFF_FLAGS = "--no-ext-diff --no-textconv --no-color"


class UnsafeRepository(RuntimeError):
    """A checkout whose `.git` is not a plain directory of this checkout."""


class GitError(RuntimeError):
    """A host-side git command failed (the message names it and has stderr's tail)."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any GIT_* variable (GIT_DIR, GIT_CONFIG_*...),
    plus SAFE_ENV and `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**base, **SAFE_ENV, **(extra or {})}


def run_git(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout_s: float = HOST_GIT_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run `git <args>` on the host with the safe options and environment (`env` adds to
    it); the result, whatever the exit code."""
    try:
        return subprocess.run(
            git_argv(*args),
            cwd=cwd,
            env=git_env(env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args)} in {cwd} timed out after {timeout_s:.0f}s") from exc


def git_output(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = HOST_GIT_TIMEOUT_S,
) -> str:
    """stdout of `run_git(*args)`; GitError when it fails."""
    proc = run_git(*args, cwd=cwd, env=env, timeout_s=timeout_s)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def reset_repo_config(checkout: Path) -> None:
    """Make `checkout/.git` safe for host-side git: a plain directory (not a `gitdir:`
    file or a symlink) holding only directories and regular files (no symlink that would
    make git read or write elsewhere on the host, no FIFO or device), its config replaced
    by a fixed minimal one (no filters, drivers, aliases, includes, worktree redirection),
    no info/attributes, no alternates, no hooks."""
    git_dir = Path(checkout) / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir():
        raise UnsafeRepository(f"{checkout}: .git is not a plain directory")
    _check_tree(git_dir)
    for name in _CONFIG_FILES:
        (git_dir / name).unlink(missing_ok=True)
    hooks = git_dir / "hooks"
    if hooks.exists():
        shutil.rmtree(hooks)
    hooks.mkdir()
    (git_dir / "config").write_text(_MINIMAL_CONFIG)


def _check_tree(git_dir: Path) -> None:
    """UnsafeRepository unless everything under `git_dir` is a directory or regular file."""
    for root, dirs, files in os.walk(git_dir):
        for name in [*dirs, *files]:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise UnsafeRepository(f"{path} is a symlink (to {os.readlink(path)!r})")
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise UnsafeRepository(f"{path} is not a regular file or directory")


def append_excludes(checkout: Path, comment: str, paths: Iterable[str]) -> None:
    """Add `paths` (relative to the checkout root) to `.git/info/exclude` as anchored,
    literal patterns (glob characters escaped; a name with a newline cannot be written and
    is skipped). `.git` must have passed `reset_repo_config` (no symlinks in it)."""
    lines = [f"# {comment}"]
    for path in paths:
        if path and "\n" not in path:
            lines.append("/" + "".join(f"\\{c}" if c in "[]*?\\" else c for c in path))
    info = Path(checkout) / ".git" / "info"
    info.mkdir(exist_ok=True)
    fd = os.open(info / "exclude", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "a") as handle:
        handle.write("\n".join(lines) + "\n")


def reset_shell(checkout: str) -> str:
    """Shell lines doing `reset_repo_config`'s reset of `checkout/.git` where the checkout
    is not the host's (an image build, a sandbox): refuse a .git that is not a plain
    directory, remove the configuring files and hooks, write the fixed config."""
    git_dir = shlex.quote(f"{checkout}/.git")
    refuse = f"swelego: {checkout}/.git is not a plain directory; refused"
    files = " ".join(f"{git_dir}/{name}" for name in (*_CONFIG_FILES, "hooks"))
    return (
        f"if [ -L {git_dir} ] || [ ! -d {git_dir} ]; then echo {shlex.quote(refuse)} >&2; "
        "exit 1; fi\n"
        f"rm -rf {files}\n"
        f"mkdir {git_dir}/hooks\n"
        f"printf %s {shlex.quote(_MINIMAL_CONFIG)} > {git_dir}/config\n"
    )
