"""Patch application fallbacks inside a real local sandbox, and test-command building."""

from __future__ import annotations

from swelego_ray.patching import (
    ApplyMethod,
    PatchStep,
    apply_patch,
    apply_patches,
    build_test_command,
    files_in_patch,
    files_of_test_ids,
    patch_test_files,
)

# replaces line 10 of a.txt (lines "line 1" .. "line 20"), no index line
PATCH = (
    "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -7,7 +7,7 @@\n"
    " line 7\n line 8\n line 9\n-line 10\n+changed 10\n line 11\n line 12\n line 13\n"
)
GIT = "git -c user.name=t -c user.email=t@localhost"


def test_clean_patch_uses_git_apply(bare_sandbox):
    sandbox, _ = bare_sandbox
    result = apply_patch(sandbox, PATCH, name="model")
    assert result.ok and result.method is ApplyMethod.GIT_APPLY
    assert "changed 10" in sandbox.read_file("a.txt")
    assert "git apply --verbose" in result.log


def test_drifted_context_falls_back_to_fuzz(bare_sandbox):
    sandbox, _ = bare_sandbox
    # the file changed one context line since the patch was made; no index line, so
    # neither git apply nor --3way can merge: patch --fuzz must do it
    sandbox.exec("sed -i 's/^line 8$/line eight/' a.txt")
    result = apply_patch(sandbox, PATCH, name="model")
    assert result.ok and result.method is ApplyMethod.PATCH_FUZZ, result.log
    text = sandbox.read_file("a.txt")
    assert "changed 10" in text and "line eight" in text
    assert "a.txt.orig" not in sandbox.exec("ls").output


def test_patch_against_an_older_blob_uses_3way(bare_sandbox):
    sandbox, _ = bare_sandbox
    script = (
        "sed -i 's/^line 10$/changed 10/' a.txt && git diff > /tmp/p.diff && "
        f"git checkout -q a.txt && sed -i 's/^line 12$/line twelve/' a.txt && {GIT} "
        "commit -qam drift"
    )
    assert sandbox.exec(script).exit_code == 0
    result = apply_patch(sandbox, sandbox.read_file("/tmp/p.diff"), name="model")
    assert result.ok and result.method is ApplyMethod.GIT_3WAY, result.log
    text = sandbox.read_file("a.txt")
    assert "changed 10" in text and "line twelve" in text


def test_unappliable_patch_fails_with_reason_and_leaves_tree_untouched(bare_sandbox):
    sandbox, _ = bare_sandbox
    patch = PATCH.replace(" line 8", " nope 8").replace(" line 12", " nope 12")
    patch = patch.replace("-line 10", "-nope 10")
    result = apply_patch(sandbox, patch, name="model")
    assert not result.ok and result.method is None
    assert result.reason.startswith("model did not apply: git apply:")
    assert "patch --fuzz" in result.reason
    status = sandbox.exec("git status --porcelain --untracked-files=all").output
    assert "rej" not in status and "a.txt" not in status.replace("M  a.txt", "")


def test_empty_patch_is_a_no_op(bare_sandbox):
    sandbox, _ = bare_sandbox
    assert apply_patch(sandbox, "  \n").ok


def test_reset_restores_tests_and_removes_new_ones(bare_sandbox):
    sandbox, _ = bare_sandbox
    sandbox.exec("echo hacked > a.txt && mkdir -p t && echo new > t/test_new.py")
    reset = PatchStep(name="test_patch", patch="", reset=["a.txt", "t/test_new.py"])
    assert apply_patches(sandbox, [reset])[0].ok
    assert sandbox.read_file("a.txt").startswith("line 1\n")
    assert "test_new" not in sandbox.exec("ls -R").output


NEW_TEST = (
    "diff --git a/t/test_new.py b/t/test_new.py\nnew file mode 100644\n--- /dev/null\n"
    "+++ b/t/test_new.py\n@@ -0,0 +1 @@\n+def test_new(): pass\n"
)


def test_steps_apply_in_one_command_with_a_reset_between(bare_sandbox):
    sandbox, _ = bare_sandbox
    # the "prediction" also writes the test file the test patch adds: reset removes it first
    prediction = PATCH + NEW_TEST.replace("pass", "assert True  # pre-empted")
    steps = [
        PatchStep(name="model_patch", patch=prediction),
        PatchStep(name="test_patch", patch=NEW_TEST, reset=["t/test_new.py"]),
    ]
    results = apply_patches(sandbox, steps)
    assert [r.ok for r in results] == [True, True], [r.log for r in results]
    assert [r.method for r in results] == [ApplyMethod.GIT_APPLY, ApplyMethod.GIT_APPLY]
    assert "[model_patch] $ git apply" in results[0].log
    assert "[test_patch] $ git apply" in results[1].log
    assert sandbox.read_file("t/test_new.py") == "def test_new(): pass\n"
    assert "changed 10" in sandbox.read_file("a.txt")
    assert sandbox.exec("ls .git/swelego").exit_code != 0  # the patch files are gone


def test_a_failing_step_stops_the_sequence_with_its_reasons(bare_sandbox):
    sandbox, _ = bare_sandbox
    bad = PATCH.replace(" line 8", " nope 8").replace(" line 12", " nope 12")
    bad = bad.replace("-line 10", "-nope 10")
    steps = [PatchStep(name="first", patch=bad), PatchStep(name="second", patch=NEW_TEST)]
    results = apply_patches(sandbox, steps)
    assert len(results) == 1 and not results[0].ok
    assert results[0].reason.startswith("first did not apply: git apply:")
    assert results[0].log.count("[first] $ ") == 4  # every fallback was tried
    assert sandbox.exec("test -e t/test_new.py").exit_code == 1


def test_empty_steps_and_a_patch_without_final_newline(bare_sandbox):
    sandbox, _ = bare_sandbox
    steps = [PatchStep(name="none", patch=""), PatchStep(name="p", patch=PATCH.rstrip("\n"))]
    results = apply_patches(sandbox, steps)
    assert [r.ok for r in results] == [True, True]
    assert "empty patch" in results[0].log and results[1].method is ApplyMethod.GIT_APPLY


def test_a_step_past_the_deadline_is_reported_as_such(bare_sandbox):
    sandbox, _ = bare_sandbox
    # a pre-commit-style hook cannot run here, so stall git through a fifo it must read
    sandbox.exec("mkfifo /tmp/stall && git config core.attributesFile /tmp/stall")
    results = apply_patches(sandbox, [PatchStep(name="slow", patch=PATCH)], timeout_s=2)
    assert len(results) == 1 and not results[0].ok
    assert "slow did not apply: stopped: the deadline (2 s) hit" in results[0].reason


TEST_PATCH = """\
diff --git a/tests/test_a.py b/tests/test_a.py
index 1111111..2222222 100644
--- a/tests/test_a.py
+++ b/tests/test_a.py
@@ -1 +1,2 @@
 x
+y
diff --git a/tests/data/case one.json b/tests/data/case one.json
new file mode 100644
--- /dev/null
+++ b/tests/data/case one.json
@@ -0,0 +1 @@
+{}
diff --git a/tests/test_gone.py b/tests/test_gone.py
deleted file mode 100644
--- a/tests/test_gone.py
+++ /dev/null
@@ -1 +0,0 @@
-x
diff --git a/tests/test_old.py b/tests/test_renamed.py
similarity index 100%
rename from tests/test_old.py
rename to tests/test_renamed.py
"""


def test_test_command_gets_only_test_files_touched_by_the_test_patch():
    assert files_in_patch(TEST_PATCH) == [
        "tests/test_a.py",
        "tests/data/case one.json",
        "tests/test_renamed.py",
    ]
    files = patch_test_files(TEST_PATCH)
    assert files == ["tests/test_a.py", "tests/test_renamed.py"]
    assert build_test_command("pytest -rA", files) == (
        "pytest -rA tests/test_a.py tests/test_renamed.py"
    )
    assert build_test_command("pytest -rA", ["a b.py"]) == "pytest -rA 'a b.py'"
    django = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
    assert build_test_command(django, ["tests/migrations/test_operations.py"]) == (
        f"{django} migrations.test_operations"
    )
    assert files_of_test_ids(["t/test_x.py::test_a[1 2]", "t/test_x.py::B::c", "test_y (m.C)"]) == [
        "t/test_x.py"
    ]


def test_patch_and_test_runs_after_the_patches_under_the_tests_own_deadline(bare_sandbox):
    import time

    from swelego_ray.harness import patch_and_test

    sandbox, _ = bare_sandbox
    steps = [PatchStep(name="model_patch", patch=PATCH)]
    applied, run = patch_and_test(sandbox, steps, "grep -c changed a.txt; exit 3", timeout_s=30)
    assert applied[0].ok and run is not None
    assert run.exit_code == 3 and not run.timed_out and "1\n" in run.output
    assert "git apply" not in run.output  # the patching log stays out of the test output
    # the tests' deadline holds although patching had a budget on top of it
    started = time.monotonic()
    _, run = patch_and_test(sandbox, [PatchStep(name="p", patch="")], "sleep 60", timeout_s=1)
    assert run is not None and run.timed_out and time.monotonic() - started < 10
    # a patch that does not apply: no test run
    bad = PatchStep(name="bad", patch=PATCH.replace("-line 10", "-nope"))
    applied, run = patch_and_test(sandbox, [bad], "echo ran", timeout_s=30)
    assert not applied[0].ok and run is None


def test_patches_reaching_into_git_are_named():
    from swelego_ray.patching import git_dir_paths

    assert git_dir_paths(PATCH) == [] and git_dir_paths(TEST_PATCH) == []
    hook = "--- a/.git/hooks/post-checkout\n+++ b/.git/hooks/post-checkout\n@@ -0,0 +1 @@\n+x\n"
    assert git_dir_paths(hook) == [
        "--- a/.git/hooks/post-checkout",
        "+++ b/.git/hooks/post-checkout",
    ]
    quoted = 'diff --git "a/\\056git/config" "b/\\056git/config"\n'  # \056 is "."
    assert git_dir_paths(quoted) == [quoted.strip()]
    for sneaky in ("rename to sub/.GIT/x", "Index: ./.git/x", "*** a/d/.git. /x"):
        assert git_dir_paths(sneaky + "\n"), sneaky
    link = (
        "diff --git a/lnk b/lnk\nnew file mode 120000\n--- /dev/null\n+++ b/lnk\n"
        "@@ -0,0 +1 @@\n+../.git\n\\ No newline at end of file\n"
    )
    assert git_dir_paths(link) == ["symlink to ../.git"]
    # names that only look alike are fine
    assert git_dir_paths("--- a/.github/x.gitignore\n+++ b/.gitmodules\n") == []


def test_file_changes_reads_every_format_and_skips_hunk_bodies():
    from swelego_ray.patching import FileChange, file_changes

    assert file_changes(TEST_PATCH) == [
        FileChange(old="tests/test_a.py", new="tests/test_a.py"),
        FileChange(old=None, new="tests/data/case one.json"),
        FileChange(old="tests/test_gone.py", new=None),
        FileChange(old="tests/test_old.py", new="tests/test_renamed.py"),
    ]
    # a removed line `-- a/conftest.py` inside a hunk is content, not a header
    body = "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,1 @@\n--- a/conftest.py\n keep\n"
    assert file_changes(body) == [FileChange(old="x.py", new="x.py")]
    context = (
        "*** a/conftest.py\n--- b/conftest.py\n***************\n*** 1 ****\n! x\n--- 1 ----\n! y\n"
    )
    assert file_changes(context) == [FileChange(old="conftest.py", new="conftest.py")]
    assert file_changes("Index: setup.cfg\n") == [FileChange(old="setup.cfg", new="setup.cfg")]
