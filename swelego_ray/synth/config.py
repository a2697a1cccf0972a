"""The synthesis config: which repositories, which strategies, budgets, seed, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from swelego_ray.runconfig import StageRunConfig
from swelego_ray.schema import EnvSpec


class RepoInput(BaseModel):
    """One repository to synthesize from: a local git checkout (its HEAD, or `rev`)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    name: str | None = None
    """The tasks' `repo` (owner/name); default: from the directory name (`owner__name`)."""
    rev: str = "HEAD"
    env_spec: EnvSpec | None = None
    """The environment of every task of this repository (default: derived per commit from
    its packaging files, or SWE-bench's registry)."""


class HistoryConfig(BaseModel):
    """Which commits the `history` strategy keeps (SWE-rebench-style filters)."""

    model_config = ConfigDict(extra="forbid")

    max_commits: int = Field(2000, ge=1)
    """Commits looked at, newest first (first-parent history of the snapshot)."""
    min_files: int = Field(1, ge=1)
    max_files: int = Field(15, ge=1)
    """Files changed (source + tests), inclusive bounds."""


class PRConfig(BaseModel):
    """Where the `prs` strategy reads pull requests, and which it keeps (SWE-rebench-style
    filters; the defaults are the project's choice)."""

    model_config = ConfigDict(extra="forbid")

    dump: str | None = None
    """A JSONL dump of GitHub API pull request objects (offline; docs/synthesis.md)."""
    api_url: str | None = None
    """The GitHub REST API (https://api.github.com) when online; with `dump`, not both."""
    token_env: str = "GITHUB_TOKEN"
    """The environment variable holding the API token (none: unauthenticated, 60/h)."""
    max_pulls: int = Field(1000, ge=1)
    """Closed pull requests looked at per repository, newest first."""
    min_files: int = Field(1, ge=1)
    max_files: int = Field(15, ge=1)
    """Files the pull request changes (source + tests), inclusive bounds."""
    require_issue: bool = True
    """Keep only pull requests that close an issue (its text is the problem statement)."""
    require_test_change: bool = True
    require_source_change: bool = True
    """... a library Python file (not tests, docs, examples, setup)."""
    min_issue_words: int = Field(5, ge=0)
    """Shorter issue texts (title + body) say too little to solve the task from."""
    max_patch_lines: int | None = Field(None, ge=1)
    """Gold patches changing more lines are dropped (None: no bound)."""
    created_after: str | None = None
    """Only pull requests created at or after this ISO date (e.g. past a model's cut-off)."""
    max_rate_wait_s: float = Field(3600.0, ge=0)
    """The longest wait for a reset rate limit before the repository's listing fails."""

    @model_validator(mode="after")
    def _check(self) -> PRConfig:
        if self.dump and self.api_url:
            raise ValueError("prs: give dump (offline) or api_url (online), not both")
        if self.min_files > self.max_files:
            raise ValueError(f"prs: min_files {self.min_files} > max_files {self.max_files}")
        return self


class SynthConfig(StageRunConfig):
    """One synthesis run; rejected as a whole before any work. Run settings (backend,
    workers, limits, Ray) are StageRunConfig's, passed on to validation."""

    repos: list[RepoInput] = Field(min_length=1)
    out: str
    """Output directory (or s3:// URI): tasks.jsonl, tasks.parquet, funnel.json,
    candidates.jsonl, validate/ (validation results, reused on a rerun)."""
    strategies: list[str] = Field(default_factory=lambda: ["ast"])
    max_per_repo: int = Field(50, ge=1)
    """Tasks written per repository, at most (across strategies, in their order)."""
    candidates_per_repo: int | None = Field(None, ge=1)
    """Candidates proposed per repository and strategy (default: 4 x max_per_repo)."""
    seed: int = 0
    transforms: list[str] | None = None
    """AST transform families to use (default: all, see synth.transforms.TRANSFORMS)."""
    min_statements: int = Field(3, ge=1)
    """Functions with fewer statements are not targets."""
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    prs: PRConfig = Field(default_factory=PRConfig)
    runs: int = Field(2, ge=1)
    """Validation runs of each state; a test whose outcome changes between runs is flaky."""
    min_pass_to_pass: int = Field(1, ge=0)
    statement_writer: str = "template"
    """Who writes problem statements: `template` (no model), or a registered plug-in."""
    statement_fallback: str | None = None
    """The writer used when `statement_writer`'s statement is rejected (e.g. `template`
    behind `llm`): the task is kept, the rejection noted in the funnel. None: dropped."""
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per plug-in settings (a strategy's or statement writer's name -> its options),
    validated by the plug-in itself (e.g. {"llm": {"url": ...}})."""
    timeout_s: float = Field(3600.0, gt=0)
    force: bool = False
    """Ignore stored validation results."""

    def budget(self) -> int:
        return self.candidates_per_repo or 4 * self.max_per_repo

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        from swelego_ray.synth.strategies import known_strategies
        from swelego_ray.synth.transforms import TRANSFORMS

        unknown = [s for s in self.strategies if s not in known_strategies()]
        if unknown or not self.strategies:
            raise ValueError(
                f"strategies {unknown or '[]'}: known: {', '.join(known_strategies())}"
            )
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategies {self.strategies}: each at most once")
        if "prs" in self.strategies and not (self.prs.dump or self.prs.api_url):
            raise ValueError("strategy prs needs prs.dump (--pr-dump FILE) or prs.api_url")
        if self.statement_fallback == self.statement_writer:
            raise ValueError(f"statement_fallback {self.statement_fallback!r} is the writer")
        bad = [t for t in self.transforms or [] if t not in TRANSFORMS]
        if bad:
            raise ValueError(f"transforms {bad}: known: {', '.join(TRANSFORMS)}")
        if self.timeout_s <= self.limits.timeout_s * self.runs:
            raise ValueError(
                f"the per-item deadline (timeout_s={self.timeout_s}) must exceed runs x the "
                f"per-command timeout ({self.runs} x {self.limits.timeout_s})"
            )
        return self


def read_repos_list(path: str | Path) -> list[RepoInput]:
    """A repositories list: one `PATH [owner/name]` per line; blank lines and `#` comments
    skipped; relative paths are taken from the list's directory. ValueError naming the
    line for a malformed one."""
    where = Path(path)
    repos: list[RepoInput] = []
    for number, line in enumerate(where.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) > 2:
            raise ValueError(f"{path}:{number}: expected `PATH [owner/name]`, got {line!r}")
        repo = Path(parts[0]).expanduser()
        repo = repo if repo.is_absolute() else where.parent / repo
        repos.append(RepoInput(path=str(repo), name=parts[1] if len(parts) == 2 else None))
    if not repos:
        raise ValueError(f"{path}: no repositories listed")
    return repos
