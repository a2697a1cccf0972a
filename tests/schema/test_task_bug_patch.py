"""Task.bug_patch: a synthetic task's bug is a field (`patch` always means the fix)."""

from __future__ import annotations

from swelego_ray.schema import Provenance, Task


def test_bug_patch_is_a_field_and_old_files_are_read():
    task = Task(instance_id="o__r.b", repo="o/r", base_commit="a" * 40, patch="fix",
                bug_patch="bug", provenance=Provenance.AST)  # fmt: skip
    assert (task.patch, task.bug_patch) == ("fix", "bug")
    old = Task.model_validate(
        {"instance_id": "o__r.b", "repo": "o/r", "base_commit": "a" * 40, "patch": "fix",
         "meta": {"bug_patch": "bug", "validation": {"runs": 2}}}
    )  # fmt: skip
    assert old.bug_patch == "bug" and old.meta == {"validation": {"runs": 2}}
    assert Task.model_validate(task.model_dump(mode="json")) == task
