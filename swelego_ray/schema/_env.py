"""Environments are data: a repository at a commit plus the spec to build and test it.

They live in the schema so every layer can name one; building them is swelego_ray.envs,
running sandboxes on a built one is swelego_ray.sandbox."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.storage import content_hash


class EnvSpec(BaseModel):
    """How to build and test one repository at one commit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    python: str = "3.11"  # major.minor; a missing interpreter is an EnvBuildError
    packages: list[str] = Field(default_factory=list)  # requirement strings for the venv
    pre_install: list[str] = Field(default_factory=list)  # shell, in TESTBED, before install
    install: list[str] = Field(default_factory=lambda: ["python -m pip install -e ."])
    test_cmd: str = "pytest -rA"  # test files / ids are appended
    log_parser: str = "pytest"  # name in the log-parser registry
    env_vars: dict[str, str] = Field(default_factory=dict)
    exclude_newer: str = ""
    """RFC 3339 UTC cutoff: later uploads do not exist for the resolver (see
    envs/resolution.py); "" resolves against today's index."""

    def digest(self) -> str:
        # Without a cutoff the digest is what it was before the field existed (cache keys
        # of environments resolved against today's index stay valid).
        exclude = set() if self.exclude_newer else {"exclude_newer"}
        return content_hash(self.model_dump(mode="json", exclude=exclude))


class Environment(BaseModel):
    """A repository at a commit plus the spec to build it; `key` names its cache entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str  # owner/name
    commit: str  # the environment commit (base commit, or environment_setup_commit)
    source: str  # local directory, local git mirror (bare or not), or git URL
    spec: EnvSpec

    @property
    def key(self) -> str:
        return f"{self.repo.replace('/', '__')}@{self.commit[:12]}-{self.spec.digest()}"
