"""git inside sandboxes, and the diff every backend reports.

Every script the harness runs in a sandbox that calls git starts with `SAFE_GIT`: a shell
function named `git` that runs the real one with gitsafe's options and environment (no
hooks, fsmonitor, pager, external diff, credential helpers, system or user configuration),
so that nothing a repository, a build or a patch wrote into `.git` makes the harness's own
git run a command.
"""

from __future__ import annotations

import re
import shlex

from swelego_ray.gitsafe import DIFF_FLAGS, GIT_SHELL, SAFE_ENV

_ENV_WORDS = " ".join(f"{name}={shlex.quote(value)}" for name, value in SAFE_ENV.items())
# `command git` is the binary (not this function); the -c options are gitsafe's.
SAFE_GIT = f'git() {{ {_ENV_WORDS} command {GIT_SHELL} "$@"; }}'

_DIFF_SPLIT = re.compile(r"^(?=diff --git )", re.MULTILINE)


def safe_git_script(script: str) -> str:
    """`script` with every `git` in it made the safe one."""
    return f"{SAFE_GIT}\n{script}"


def diff_command(base: str) -> str:
    """Shell (run in TESTBED) printing `git add -A` staged changes against `base` (a shell
    word: a sha, or an expansion the backend supplies, e.g. `$(cat FILE)`)."""
    return safe_git_script(
        f"git add -A && git -c core.fileMode=false diff --cached {DIFF_FLAGS} {base}"
    )


def drop_binary(diff: str) -> str:
    """The diff without the sections of binary files (a patch must be applicable text)."""
    chunks = _DIFF_SPLIT.split(diff)
    return "".join(c for c in chunks if "\nBinary files " not in c and "GIT binary patch" not in c)
