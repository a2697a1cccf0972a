"""Candidate tasks: what a strategy proposes, before validation; and their provenance."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.harness import SOURCE_KEY
from swelego_ray.schema import EnvSpec, Provenance, Task

SYNTH_META = "synth"  # task.meta key holding the candidate's provenance and features


class Features(BaseModel):
    """Simple difficulty features."""

    model_config = ConfigDict(extra="forbid")

    lines_changed: int
    files: int
    function_lines: int = 0  # size of the rewritten function (0: not one function)


class Origin(BaseModel):
    """Where a candidate comes from: enough to make it again."""

    model_config = ConfigDict(extra="forbid")

    strategy: str  # ast | history | (a plug-in strategy, e.g. llm, prs)
    transform: str  # the transform family; history: "commit"; prs: "pull_request"
    seed: int | None = None
    file: str = ""
    function: str = ""  # qualified name (Class.method)
    commit: str = ""  # history: the mined commit; prs: the merge commit (else PR head)
    explanation: str = ""  # one sentence on what changed (never shown to the solver)


class Candidate(BaseModel):
    """A proposed task. Synthetic: `bug_patch` breaks the snapshot, `patch` (its reverse)
    fixes it. Real (history, prs): `patch` fixes `base_commit`, `test_patch` tests it."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    repo: str
    base_commit: str
    source: str  # where the repository is (a local path)
    provenance: Provenance
    origin: Origin
    features: Features
    bug_patch: str = ""
    patch: str = ""
    test_patch: str = ""
    created_at: str = ""
    env_spec: EnvSpec | None = None
    hint: str = ""  # history: the commit message, for the statement writer
    problem_statement: str = ""  # prs: the linked issue's text (no writer involved)
    extra_meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def funnel_key(self) -> tuple[str, str]:
        return self.origin.strategy, self.origin.transform

    def to_task(self) -> Task:
        meta = {
            SOURCE_KEY: self.source,
            SYNTH_META: {
                **self.origin.model_dump(),
                "features": self.features.model_dump(),
            },
            **self.extra_meta,
        }
        if self.hint:
            meta[SYNTH_META]["hint"] = self.hint
        return Task(
            instance_id=self.instance_id,
            repo=self.repo,
            base_commit=self.base_commit,
            patch=self.patch,
            test_patch=self.test_patch,
            bug_patch=self.bug_patch,
            created_at=self.created_at,
            problem_statement=self.problem_statement,
            provenance=self.provenance,
            env_spec=self.env_spec,
            meta=meta,
        )
