"""Git sanitisation before an agent or an evaluation touches a repository, then proof.

Real tasks keep the history up to the base commit and nothing after it: no remotes, no
other branches, no tags, no reflog, no pseudo-refs (ORIG_HEAD, FETCH_HEAD, ...), no
borrowed object stores, no unreachable objects. Synthetic tasks lose their history
altogether: `.git` is deleted and re-initialised with one commit of the current tree (the
injected bug included), so `git log` / `git diff` reveal nothing.

`verify` then checks the object store itself: every commit object present must be an
ancestor of the base commit (real) or the single re-init commit (synthetic). Any failure
is reported with reason `sanitise_failed`; the item must not go on.

Every git here is the safe one (`sandbox._git.SAFE_GIT`: gitsafe's options and
environment), since a repository's build may have written its `.git/config`.
"""

from __future__ import annotations

import re
import shlex

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.sandbox import Sandbox, safe_git_script

SANITISE_FAILED = "sanitise_failed"
INIT_BRANCH = "main"
_PSEUDO_REFS = (
    "ORIG_HEAD FETCH_HEAD MERGE_HEAD CHERRY_PICK_HEAD REVERT_HEAD BISECT_HEAD AUTO_MERGE "
    "REBASE_HEAD"
)


class SanitiseReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    synthetic: bool
    head: str = ""  # HEAD after sanitising: the base commit, or the re-init commit
    reason: str | None = None  # SANITISE_FAILED when not ok
    problems: list[str] = Field(default_factory=list)
    log: str = ""


_GIT_ERROR = re.compile(r"^(fatal|error): ", re.MULTILINE)
_OBJECTS_MISSING = re.compile(
    r"unable to read|bad object|missing (blob|tree|commit)|did not receive expected object"
    r"|shallow|invalid object|corrupt",
    re.IGNORECASE,
)


def _failure(output: str, exit_code: int) -> str:
    """Why the sanitising script stopped: git's own error lines (else the output's last
    lines), and what an incomplete object store means."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _GIT_ERROR.match(ln)][-3:] or lines[-2:]
    text = f"sanitising failed (exit {exit_code})" + (": " + "; ".join(errors) if errors else "")
    if _OBJECTS_MISSING.search("\n".join(errors)):
        text += (
            " (the checkout's object store is incomplete or corrupt: a shallow, partial or "
            "damaged source; check it with `git fsck` and give a full clone)"
        )
    return text


# Subjects of the commit an environment build makes of its set-up edits (envs.builder,
# envs.images); sanitising accepts such a commit directly on top of the base commit.
SETUP_COMMIT_SUBJECTS = ("swelego: environment setup", "swelego: environment set-up edits")
_SETUP_SUBJECTS = "|".join(shlex.quote(s) for s in SETUP_COMMIT_SUBJECTS)


def _real_script(base_commit: str) -> str:
    base = shlex.quote(base_commit)
    return f"""
set -e
[ -d .git ] || {{ echo "PROBLEM .git is not a directory (worktree or submodule link)"; exit 3; }}
head=$(git rev-parse HEAD)
base=$(git rev-parse --verify --quiet {base}^{{commit}} || true)
if [ "$head" != "$base" ]; then
  # the environment build's commit of its set-up edits (SWE-bench's pre_install seds), on
  # top of the base commit (envs.builder / envs.images), is the one HEAD allowed besides it
  subject=$(git log -1 --format=%s HEAD)
  parent=$(git rev-parse --verify --quiet HEAD^ || true)
  case "$subject" in {_SETUP_SUBJECTS}) setup=1 ;; *) setup=0 ;; esac
  [ "$setup" = 1 ] && [ -n "$base" ] && [ "$parent" = "$base" ] || {{
    echo "PROBLEM HEAD $head is not the base commit {base}"; exit 3; }}
fi
for r in $(git remote); do git remote remove "$r"; done
cur=$(git symbolic-ref -q --short HEAD || true)
git for-each-ref --format='%(refname)' | while read -r ref; do
  if [ -n "$cur" ] && [ "$ref" = "refs/heads/$cur" ]; then continue; fi
  git update-ref -d "$ref"
done
for p in {_PSEUDO_REFS}; do rm -f ".git/$p"; done
rm -rf .git/rebase-merge .git/rebase-apply .git/refs/original .git/logs/refs/stash
rm -f .git/objects/pack/*.keep
if [ -s .git/objects/info/alternates ]; then
  git repack -a -d -q
  rm -f .git/objects/info/alternates
fi
git reflog expire --expire=now --expire-unreachable=now --all
git gc --prune=now --quiet
echo SANITISED
"""


def _synthetic_script() -> str:
    return f"""
set -e
rm -rf .git
git init -q -b {INIT_BRANCH}
git add -A
git -c user.name=swelego -c user.email=swelego@localhost commit -q --no-verify \\
  -m "Initial commit"
echo SANITISED
"""


def _verify_script(tip: str, *, single_commit: bool) -> str:
    """Prints `PROBLEM ...` lines; `tip` (a shell word) is the commit whose ancestors may
    exist."""
    one = (
        '[ "$(git rev-list --all --reflog | wc -l)" = 1 ] || echo "PROBLEM expected exactly '
        'one commit"'
        if single_commit
        else ""
    )
    return f"""
[ -d .git ] || echo "PROBLEM .git is not a directory"
[ -z "$(git remote)" ] || echo "PROBLEM remotes left: $(git remote | tr '\\n' ' ')"
cur=$(git symbolic-ref -q HEAD || true)
extra=$(git for-each-ref --format='%(refname)' | grep -vxF "${{cur:-none}}" || true)
[ -z "$extra" ] || echo "PROBLEM refs other than the current branch: $(echo $extra | head -c 300)"
for p in {_PSEUDO_REFS}; do [ ! -e ".git/$p" ] || echo "PROBLEM pseudo-ref $p exists"; done
[ ! -s .git/objects/info/alternates ] || echo "PROBLEM borrows objects (alternates)"
allowed=$(git rev-list {tip} | sort -u)
reach=$(git rev-list --all --reflog | sort -u)
n=$(comm -23 <(echo "$reach") <(echo "$allowed") | grep -c . || true)
[ "$n" = 0 ] || echo "PROBLEM $n reachable commit(s) are not ancestors of {tip}"
objs=$(git cat-file --batch-all-objects --batch-check='%(objecttype) %(objectname)' \\
  | awk '$1=="commit"{{print $2}}' | sort -u)
n=$(comm -23 <(echo "$objs") <(echo "$allowed") | grep -c . || true)
[ "$n" = 0 ] || echo "PROBLEM $n commit object(s) in the store are not ancestors of {tip}"
n=$(git fsck --unreachable --no-reflogs --no-progress 2>/dev/null | grep -c . || true)
[ "$n" = 0 ] || echo "PROBLEM $n unreachable object(s) left"
{one}
echo VERIFIED
"""


def _problems(output: str) -> list[str]:
    problems = [ln[8:] for ln in output.splitlines() if ln.startswith("PROBLEM ")]
    if "VERIFIED" not in output:
        problems.append("verification did not finish")
    return problems


def verify(sandbox: Sandbox, allowed_tip: str, *, single_commit: bool = False) -> list[str]:
    """Problems left in the repository (empty list: clean)."""
    script = _verify_script(shlex.quote(allowed_tip), single_commit=single_commit)
    result = sandbox.exec(f"bash -c {shlex.quote(safe_git_script(script))}", timeout_s=300)
    return _problems(result.output)


def sanitise(
    sandbox: Sandbox, *, base_commit: str | None, synthetic: bool, timeout_s: float = 300.0
) -> SanitiseReport:
    """Sanitise the repository in `sandbox` and verify the result.

    Real tasks need `base_commit` (HEAD must be at it); synthetic tasks re-initialise."""
    if not synthetic and not base_commit:
        raise ValueError("sanitising a real task needs its base commit")
    script = _synthetic_script() if synthetic else _real_script(base_commit or "")
    # One exec: sanitise, print HEAD, then verify against it.
    script += 'set +e\necho "HEAD=$(git rev-parse HEAD)"\n'
    script += _verify_script('"$(git rev-parse HEAD)"', single_commit=synthetic)
    result = sandbox.exec(f"bash -c {shlex.quote(safe_git_script(script))}", timeout_s=timeout_s)
    log = f"$ sanitise ({'synthetic' if synthetic else 'real'})\n{result.output}"
    if "SANITISED" not in result.output:
        problems = [ln[8:] for ln in result.output.splitlines() if ln.startswith("PROBLEM ")]
        problems = problems or [_failure(result.output, result.exit_code)]
        return SanitiseReport(
            ok=False, synthetic=synthetic, reason=SANITISE_FAILED, problems=problems, log=log
        )
    head = next((ln[5:] for ln in result.output.splitlines() if ln.startswith("HEAD=")), "")
    problems = _problems(result.output)
    return SanitiseReport(
        ok=not problems,
        synthetic=synthetic,
        head=head,
        reason=SANITISE_FAILED if problems else None,
        problems=problems,
        log=log,
    )
