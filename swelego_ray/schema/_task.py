"""The Task record: SWE-bench fields plus environment reference, provenance, difficulty."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from swelego_ray.schema._env import EnvSpec

TASK_FORMAT = "swelego.task/1"


class Provenance(StrEnum):
    """Where a task came from."""

    REAL = "real"  # mined from a merged pull request / commit
    LLM_REWRITE = "llm_rewrite"  # an LLM re-implemented a function and got it wrong
    AST = "ast"  # a libcst transform injected the bug


class Task(BaseModel):
    """One executable software-engineering task.

    F2P/P2P are real lists here; JSON-encoded strings (as public SWE-bench dumps store
    them) are decoded once, at this boundary.
    """

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    repo: str
    base_commit: str
    patch: str = ""
    """The fix: applied to the task's start state, the FAIL_TO_PASS tests pass."""
    test_patch: str = ""
    problem_statement: str = ""
    hints_text: str = ""
    created_at: str = ""
    version: str = ""
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    environment_setup_commit: str = ""
    # swelego-ray extensions
    env_key: str = ""  # which built environment the task runs in ("" = derive from repo/commit)
    env_spec: EnvSpec | None = None
    """An explicit environment spec, overriding SWE-bench's registry and the defaults (a
    typo in it is refused with the task, naming the field)."""
    provenance: Provenance = Provenance.REAL
    difficulty: float | str | None = None
    """A number (an estimate, e.g. for synthetic tasks), or SWE-bench Verified's label as
    published ("<15 min fix", "15 min - 1 hour", ...)."""
    bug_patch: str = ""
    """A synthetic task's injected bug, applied to its environment's clean snapshot to make
    the start state (`patch` reverses it). Empty for real tasks."""
    meta: dict[str, Any] = Field(default_factory=dict)
    format: str = TASK_FORMAT

    @model_validator(mode="before")
    @classmethod
    def _bug_patch_from_meta(cls, data: Any) -> Any:
        # Files written before bug_patch was a field kept it in meta["bug_patch"].
        if isinstance(data, dict) and isinstance(data.get("meta"), dict):
            meta = data["meta"]
            if "bug_patch" in meta and not data.get("bug_patch"):
                data = {
                    **data,
                    "meta": {k: v for k, v in meta.items() if k != "bug_patch"},
                    "bug_patch": meta["bug_patch"],
                }
        return data

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _decode_test_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return []
            decoded = json.loads(value)
            if not isinstance(decoded, list):
                raise ValueError(f"expected a JSON list of test ids, got {type(decoded).__name__}")
            return decoded
        return value

    @field_validator("meta", "env_spec", mode="before")
    @classmethod
    def _decode_json_object(cls, value: Any) -> Any:
        # Parquet stores these free-form objects as JSON text.
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("instance_id", "repo")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def to_swebench(self) -> dict[str, Any]:
        """The record as SWE-bench tools expect it (F2P/P2P as JSON strings)."""
        row = self.model_dump(mode="json")
        row["FAIL_TO_PASS"] = json.dumps(self.FAIL_TO_PASS)
        row["PASS_TO_PASS"] = json.dumps(self.PASS_TO_PASS)
        return row
