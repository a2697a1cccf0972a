"""git on untrusted repositories, with a configuration the repository cannot change.

A repository's own `.git/config` (and what a build, a patch or an agent writes into it) can
make git run commands: `core.fsmonitor`, hooks, `filter.*` drivers, `diff.external`,
textconv, `core.pager`, aliases, `core.sshCommand`, includes. Host-side git on a workspace
that untrusted code touched therefore (1) rewrites that workspace's `.git/config` to a
fixed, minimal one (`reset_repo_config`) and (2) runs with the options below, which also
win over anything left in system or global files. In-sandbox git (patching, diffs,
sanitisation) uses the same options (`GIT_SHELL`), so the harness's git never runs a hook.
"""

from __future__ import annotations

import shlex
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
    "protocol.ext.allow=never",
)
# Environment for every git process: no system or user configuration at all.
SAFE_ENV: dict[str, str] = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
}

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


def reset_repo_config(checkout: Path) -> None:
    """Make `checkout/.git` safe for host-side git: a plain directory (not a `gitdir:`
    file or a symlink), its config replaced by a fixed minimal one (no filters, drivers,
    aliases, includes, worktree redirection), no info/attributes, no alternates."""
    git_dir = checkout / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir():
        raise UnsafeRepository(f"{checkout}: .git is not a plain directory")
    for name in ("config", "info/attributes", "objects/info/alternates", "commondir"):
        path = git_dir / name
        if path.is_symlink() or path.is_dir():
            raise UnsafeRepository(f"{checkout}: .git/{name} is not a regular file")
        path.unlink(missing_ok=True)
    (git_dir / "config").write_text(_MINIMAL_CONFIG)
