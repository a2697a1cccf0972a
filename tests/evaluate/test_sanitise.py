"""Git sanitisation in a real local sandbox: future commits, tags, branches, remotes,
stashes and pseudo-refs are gone afterwards, and verification proves it."""

from __future__ import annotations

from swelego_ray.sanitise import SANITISE_FAILED, sanitise, verify

GIT = "git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false"

# Inside the sandbox: history the agent must not see, made after the base commit.
LEAKY_HISTORY = f"""
set -e
{GIT} checkout -q -b feature
echo fix > fix.txt && git add fix.txt && {GIT} commit -qm "the fix (future)"
{GIT} tag v2.0 && {GIT} tag -a -m annotated v2.1
{GIT} checkout -q main
echo later > later.txt && git add later.txt && {GIT} commit -qm "later on main"
git reset -q --hard HEAD~1
git remote add origin https://example.invalid/o/r.git
git update-ref refs/remotes/origin/main feature
echo wip > wip.txt && git add wip.txt && {GIT} stash -q
git update-ref refs/notes/commits feature
cp .git/refs/heads/feature .git/FETCH_HEAD
"""


def test_real_task_history_after_base_is_removed(bare_sandbox):
    sandbox, base = bare_sandbox
    made = sandbox.exec(LEAKY_HISTORY)
    assert made.exit_code == 0, made.output
    before = verify(sandbox, base)
    assert any("not ancestors" in p for p in before)
    assert any("remotes left" in p for p in before)

    report = sanitise(sandbox, base_commit=base, synthetic=False)
    assert report.ok, report.problems
    assert report.head == base
    assert verify(sandbox, base) == []
    assert sandbox.exec("git rev-list --all --reflog").output.split() == [base]
    assert sandbox.exec("git remote; git tag; git stash list").output.strip() == ""
    assert sandbox.exec("git branch --format='%(refname:short)'").output.split() == ["main"]
    assert "fix.txt" not in sandbox.exec("git log --all --stat").output
    # the future commits are not even in the object store
    objects = sandbox.exec("git count-objects -v").output
    assert "count: 0" in objects


def test_head_not_at_base_fails_with_reason(bare_sandbox):
    sandbox, base = bare_sandbox
    sandbox.exec(f"echo x > x.txt && git add x.txt && {GIT} commit -qm ahead")
    report = sanitise(sandbox, base_commit=base, synthetic=False)
    assert not report.ok and report.reason == SANITISE_FAILED
    assert "is not the base commit" in report.problems[0]
    # the environment build's commit of its set-up edits, on the base commit, is accepted
    # (SWE-bench's pre_install seds: sphinx, astropy); on top of another commit it is not
    setup = f"{GIT} commit -q --allow-empty -m 'swelego: environment setup'"
    sandbox.exec(f"{setup}")
    assert not sanitise(sandbox, base_commit=base, synthetic=False).ok
    sandbox.exec(f"git reset -q --hard {base} && {setup}")
    report = sanitise(sandbox, base_commit=base, synthetic=False)
    assert report.ok, report.problems
    assert sandbox.exec("git rev-parse HEAD^").output.strip() == base


def test_incomplete_object_store_names_the_command_and_gits_error(bare_sandbox):
    """A checkout missing an object (a damaged or partial source) fails with what git
    said, not a bare exit code."""
    sandbox, base = bare_sandbox
    lose = "f=$(git rev-parse HEAD:a.txt); rm -f .git/objects/${f:0:2}/${f:2}"
    assert sandbox.exec(lose).exit_code == 0
    report = sanitise(sandbox, base_commit=base, synthetic=False)
    assert not report.ok and report.reason == SANITISE_FAILED
    problem = report.problems[0]
    assert problem.startswith("sanitising failed (exit 128): fatal: unable to read")
    assert "object store is incomplete" in problem and "git fsck" in problem


def test_synthetic_task_is_reinitialised_with_one_commit(bare_sandbox):
    sandbox, base = bare_sandbox
    assert sandbox.exec(LEAKY_HISTORY).exit_code == 0
    sandbox.exec("sed -i 's/^line 3$/line three (the bug)/' a.txt")  # the injected bug
    report = sanitise(sandbox, base_commit=None, synthetic=True)
    assert report.ok, report.problems
    assert report.head != base
    assert sandbox.exec("git rev-list --all --reflog | wc -l").output.strip() == "1"
    assert sandbox.exec("git status --porcelain").output.strip() == ""
    assert "line three (the bug)" in sandbox.exec("git show HEAD:a.txt").output
    assert sandbox.exec("git cat-file -e " + base).exit_code != 0


def test_agent_diff_after_a_synthetic_reinit(bare_sandbox):
    """After re-initialisation the start commit is gone: the diff is taken against the
    new single commit that sanitise() reports (a rollout's final patch)."""
    sandbox, _base = bare_sandbox
    report = sanitise(sandbox, base_commit=None, synthetic=True)
    assert report.ok, report.problems
    sandbox.exec("sed -i 's/^line 3$/line 3 (fixed)/' a.txt")
    patch = sandbox.diff(base=report.head)
    assert "+line 3 (fixed)" in patch and "-line 3" in patch
