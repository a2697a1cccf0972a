"""`swelego synth`: repositories -> validated tasks; stage code is imported inside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swelego_ray.cli.evaluate_cmd import (
    _CACHE,
    _IN_PROCESS,
    _MEMORY,
    _PROGRESS,
    _RAY,
    Backend,
    _common,
    _config,
    _console,
    _fail,
)


def synth(
    out: Annotated[str, typer.Option("--out", help="Output directory or s3:// URI.")],
    repo: Annotated[
        list[str] | None,
        typer.Option("--repo", help="A local git checkout (its HEAD); repeatable."),
    ] = None,
    repos_list: Annotated[
        Path | None,
        typer.Option("--repos-list", help="A file: one `PATH [owner/name]` per line."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The tasks' repo (owner/name) for one --repo.")
    ] = None,
    strategies: Annotated[
        str,
        typer.Option("--strategies", help="Comma-separated: ast, history (plug-ins: llm, prs)."),
    ] = "ast",
    max_per_repo: Annotated[
        int, typer.Option("--max-per-repo", min=1, help="Tasks written per repository.")
    ] = 50,
    candidates_per_repo: Annotated[
        int | None,
        typer.Option(
            "--candidates", min=1, help="Candidates per repository and strategy (4 x max)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same task set.")] = 0,
    transforms: Annotated[
        str | None, typer.Option("--transforms", help="Only these AST families (comma list).")
    ] = None,
    min_statements: Annotated[
        int, typer.Option("--min-statements", min=1, help="Smaller functions are not targets.")
    ] = 3,
    runs: Annotated[
        int, typer.Option("--runs", min=1, help="Validation runs per state (flaky dropped).")
    ] = 2,
    statements: Annotated[
        str, typer.Option("--statements", help="Statement writer: template (or a plug-in).")
    ] = "template",
    backend: Annotated[Backend, typer.Option("--backend", help="Sandbox backend.")] = (
        Backend.local
    ),
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Items in flight.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Deadline per validation item, seconds.")
    ] = 3600.0,
    test_timeout: Annotated[
        float,
        typer.Option(
            "--test-timeout",
            help="Deadline of each test command, seconds (an injected bug can loop forever).",
        ),
    ] = 120.0,
    memory_mb: Annotated[int | None, _MEMORY] = None,
    force: Annotated[bool, typer.Option("--force", help="Ignore stored results.")] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
    ray_address: Annotated[str | None, _RAY] = None,
    in_process: Annotated[bool, _IN_PROCESS] = False,
    progress: Annotated[bool, _PROGRESS] = True,
    llm_url: Annotated[
        str | None,
        typer.Option(
            "--llm-url",
            help="OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1) for the llm "
            "strategy and the llm statement writer.",
        ),
    ] = None,
    llm_model: Annotated[
        str | None,
        typer.Option("--llm-model", help="Model name at --llm-url."),
    ] = None,
    pr_dump: Annotated[
        Path | None,
        typer.Option(
            "--pr-dump",
            help="prs strategy: a JSONL dump of GitHub pull request objects with their diffs "
            "and linked issues embedded (docs/synthesis.md).",
        ),
    ] = None,
    github_api: Annotated[
        str | None,
        typer.Option(
            "--github-api",
            help="prs strategy, online: the GitHub REST API (https://api.github.com); "
            "token from $GITHUB_TOKEN.",
        ),
    ] = None,
) -> None:
    """Synthesize validated SWE-bench-format tasks from local git repositories.

    Strategies: `ast` injects one bug per candidate with a libcst transform into a
    function of the library code; `history` mines commits that change code and tests;
    `prs` mines merged pull requests that close an issue (--pr-dump or --github-api).
    Candidates are validated in sandboxes (>= 1 FAIL_TO_PASS and PASS_TO_PASS, stable
    over --runs runs); statements never quote the fix.

    Writes OUT/tasks.jsonl and OUT/tasks.parquet (SWE-bench schema, provenance and
    features in meta.synth), OUT/funnel.json (per strategy and transform), OUT/dropped.jsonl,
    OUT/candidates.jsonl and OUT/validate/. A rerun reuses every validation result.

    Examples:

      swelego synth --repo repos/acme__calc --out runs/synth --seed 0

      swelego synth --repos-list repos.txt --out runs/synth --strategies ast,history
      --max-per-repo 100 --workers 4

      swelego synth --repo repos/acme__calc --out runs/synth --strategies ast,llm
      --statements llm --llm-url http://127.0.0.1:8000/v1

      swelego synth --repo repos/acme__calc --out runs/synth --strategies prs
      --pr-dump acme_calc_pulls.jsonl
    """
    from swelego_ray.synth import RepoInput, SynthConfig, read_repos_list, run_synthesis

    if not repo and repos_list is None:
        _fail("give --repo PATH (repeatable) or --repos-list FILE")
    if name and len(repo or []) != 1:
        _fail("--name names the tasks of exactly one --repo")
    if in_process and workers not in (None, 1):
        _fail("--in-process runs one item at a time: drop --workers or set it to 1")
    inputs = [RepoInput(path=p, name=name) for p in repo or []]
    if repos_list is not None:
        try:
            inputs += read_repos_list(repos_list)
        except (OSError, ValueError) as exc:
            _fail(f"--repos-list {repos_list}: {exc}")
    fields = dict(
        repos=inputs,
        out=out,
        strategies=[s.strip() for s in strategies.split(",") if s.strip()],
        max_per_repo=max_per_repo,
        candidates_per_repo=candidates_per_repo,
        seed=seed,
        transforms=[t.strip() for t in transforms.split(",")] if transforms else None,
        min_statements=min_statements,
        runs=runs,
        statement_writer=statements,
        workers=workers or (1 if in_process else 2),
        timeout_s=timeout,
        force=force,
        ray_address=ray_address,
        in_process=in_process,
        progress=progress,
        **_common(backend, cache_root, test_timeout, memory_mb, None),
    )
    if pr_dump or github_api:
        fields["prs"] = {"dump": str(pr_dump) if pr_dump else None, "api_url": github_api}
    if llm_url:
        fields["options"] = {"llm": {"url": llm_url, **({"model": llm_model} if llm_model else {})}}
    elif llm_model:
        _fail("--llm-model needs --llm-url")
    cfg = _config(SynthConfig, fields)
    console = _console()
    try:
        report = run_synthesis(cfg, console=console)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    for repo_name, count in sorted(report.per_repo.items()):
        typer.echo(f"{repo_name}: {count} tasks")
    typer.echo(f"wrote {len(report.tasks)} tasks: {out.rstrip('/')}/tasks.jsonl")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
