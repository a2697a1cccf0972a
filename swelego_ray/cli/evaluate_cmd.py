"""`swelego evaluate` and `swelego validate`; stage code is imported inside the commands."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Backend(StrEnum):
    local = "local"
    docker = "docker"


class Change(StrEnum):
    auto = "auto"
    fix = "fix"
    bug = "bug"


_BACKEND = typer.Option("--backend", help="Sandbox backend.")
_WORKERS = typer.Option(
    "--workers", min=1, help="Items in flight at once (Ray tasks); default 2, 1 in-process."
)
_TEST_TIMEOUT = typer.Option("--test-timeout", help="Deadline of each test command, seconds.")
_MEMORY = typer.Option("--memory-mb", help="Memory limit of each sandbox command, MiB.")
_DISK = typer.Option(
    "--disk-mb",
    min=1,
    help="What each sandbox may write (/testbed changes + /tmp), MiB; default 4096. A "
    "command that reaches it is killed and the item reported as disk_limit.",
)
_CACHE = typer.Option("--cache-root", help="Environment / checkout cache ($SWELEGO_CACHE).")
_RAY = typer.Option("--ray-address", help="Ray cluster to join (default: local on loopback).")
_IN_PROCESS = typer.Option("--in-process", help="Run items one by one here (debugging).")
_PROGRESS = typer.Option("--progress/--no-progress", help="Show a progress bar.")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _ids(values: list[str] | None) -> list[str] | None:
    """`--instance-ids a,b --instance-ids c` -> [a, b, c]."""
    if values is None:
        return None
    return [part for value in values for part in value.split(",") if part.strip()]


def _common(backend, cache_root, test_timeout, memory_mb, disk_mb) -> dict:
    from swelego_ray.sandbox import Limits

    limits = {"timeout_s": test_timeout, "memory_mb": memory_mb, "disk_mb": disk_mb}
    return {
        "backend": {
            "kind": backend.value,
            **({"cache_root": str(cache_root)} if cache_root else {}),
        },
        "cache_root": str(cache_root) if cache_root else None,
        "limits": Limits(**{k: v for k, v in limits.items() if v is not None}),
    }


def _config(cls, fields: dict):
    from pydantic import ValidationError

    try:
        return cls(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        _fail(problems)


def _console():
    """A rich Console; when stdout is not a terminal (a pipe, a file), wide enough that
    tables are not cut at 80 columns."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=_PIPE_WIDTH)


_PIPE_WIDTH = 1000


def _set(raw: dict, dotted: str, value) -> None:
    """raw[a][b] = value for `a.b` (a mapping given replaces the one there)."""
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {} if child is None else {"kind": child}
        node = child
    node[last] = value


def _backend_options(options: list[str] | None) -> dict:
    """`--backend-option images.wheelhouse=true` -> {"backend.images.wheelhouse": True}
    (values parsed as YAML)."""
    import yaml

    parsed = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        if not sep or not key.strip() or key.strip() == "kind":
            _fail(f"--backend-option {option!r}: expected KEY=VALUE, e.g. images.wheelhouse=true")
        try:
            parsed[f"backend.{key.strip()}"] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            _fail(f"--backend-option {option!r}: the value is not YAML: {exc}")
    return parsed


def evaluate_config(config: str | None, fields: dict, options: dict):
    """EvaluateConfig from a YAML file (local or s3://, as the jobs read it), then the
    CLI's flags (None: not given), then `--backend-option`s; exit 2 naming every bad field."""
    from pydantic import ValidationError

    from swelego_ray.evaluate import EvaluateConfig
    from swelego_ray.jobs import JobConfigError, config_mapping, validation_problems

    try:
        raw = config_mapping(config) if config else {}
    except JobConfigError as exc:
        _fail(str(exc))
    if isinstance(raw.get("backend"), str):
        raw["backend"] = {"kind": raw["backend"]}
    for dotted, value in {**fields, **options}.items():
        if value is not None:
            _set(raw, dotted, value)
    if isinstance(raw.get("backend"), dict):
        raw["backend"].setdefault("kind", "local")
    try:
        return EvaluateConfig.model_validate(raw)
    except ValidationError as exc:
        where = f" ({config})" if config else ""
        _fail(f"invalid evaluation config{where}: {validation_problems(exc)}")


def evaluate(
    tasks: Annotated[
        str | None, typer.Option("--tasks", help="Tasks file (.jsonl/.json/.parquet).")
    ] = None,
    out: Annotated[str | None, typer.Option("--out", help="Output directory or s3:// URI.")] = None,
    predictions: Annotated[
        str | None,
        typer.Option(
            "--predictions",
            help="gold | empty | predictions .jsonl/.json (path or s3:// URI); default gold",
        ),
    ] = None,
    repos: Annotated[
        Path | None,
        typer.Option(
            "--repos",
            help="Repositories directory (owner__name[.git]); missing ones are cloned into it.",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help="EvaluateConfig YAML (path or s3://); flags override it."),
    ] = None,
    backend: Annotated[Backend | None, _BACKEND] = None,
    backend_option: Annotated[
        list[str] | None,
        typer.Option(
            "--backend-option",
            help="Backend option KEY=VALUE (repeatable), e.g. images.wheelhouse=true.",
        ),
    ] = None,
    offline_base: Annotated[
        bool,
        typer.Option(
            "--offline-base",
            help="docker without a registry: the debootstrap base image (built once, "
            "cached), host interpreters and the wheelhouse.",
        ),
    ] = False,
    workers: Annotated[int | None, _WORKERS] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Deadline per instance, seconds (host side); 1800."),
    ] = None,
    test_timeout: Annotated[float | None, _TEST_TIMEOUT] = None,
    memory_mb: Annotated[int | None, _MEMORY] = None,
    disk_mb: Annotated[int | None, _DISK] = None,
    instance_ids: Annotated[
        list[str] | None,
        typer.Option("--instance-ids", help="Only these ids (repeat or comma-separate)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Leave these ids out (repeat or comma-separate)."),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="SWE-bench run id (logs/run_evaluation/<run_id>/...)."),
    ] = None,
    clone: Annotated[
        bool | None,
        typer.Option("--clone/--no-clone", help="Clone repositories missing from --repos."),
    ] = None,
    repo_url: Annotated[
        str | None,
        typer.Option("--repo-url", help="Clone URL template ({repo}, {owner}, {name})."),
    ] = None,
    rerun_errors: Annotated[
        bool, typer.Option("--rerun-errors", help="Rerun stored infrastructure errors.")
    ] = False,
    rebuild_failed: Annotated[
        bool,
        typer.Option(
            "--rebuild-failed",
            help="Build again, once, environments whose recorded build failed (they are "
            "refused otherwise), and rerun the instances that errored (--rerun-errors).",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Ignore stored results.")] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
    ray_address: Annotated[str | None, _RAY] = None,
    in_process: Annotated[bool, _IN_PROCESS] = False,
    progress: Annotated[bool | None, _PROGRESS] = None,
) -> None:
    """Hack-free evaluation: sanitised sandboxes, prediction then test patch, graded tests.

    Writes OUT/report.json and OUT/report.md, SWE-bench's per-instance logs
    (OUT/logs/run_evaluation/RUN_ID/MODEL/INSTANCE/) and its run report
    OUT/MODEL.RUN_ID.json (RUN_ID defaults to the name of OUT).

    Reruns reuse finished instances (keyed by every input, the patch included).

    Settings come from --config (an EvaluateConfig YAML, as the jobs take), then the
    flags, then --backend-option KEY=VALUE (docker: images.base_image=...,
    images.wheelhouse=true, ...).

    Exit codes: 0 every instance graded; 2 bad flags, config or input files (nothing
    run); 3 some instances errored for infrastructure reasons (environment, patch apply,
    timeout, missing repository; see report.md), rerun to retry them with --rerun-errors.

    A failed environment build is recorded with its log (`swelego cache failures` lists
    them) and refused on later runs instead of being built again; --rebuild-failed
    builds each such environment once more.

    Refused before any work: an instance id that appears twice in the tasks file or in
    the predictions file (all duplicates are listed; nothing is de-duplicated), and an
    --out that is an existing file or cannot be written. A prediction whose text is not
    valid Unicode (e.g. a lone surrogate) is that instance's error (patch_apply_failed);
    every other instance is still graded.

    Examples:

      swelego evaluate --tasks tasks.jsonl --predictions gold --repos repos --out runs/gold

      swelego evaluate --tasks tasks.jsonl --predictions preds.jsonl --repos repos
      --out runs/m1 --run-id m1 --workers 4 --exclude a__b-1,a__b-2

      swelego evaluate --tasks tasks.jsonl --repos repos --out runs/d --backend docker
      --backend-option images.wheelhouse=true
    """
    _check_inputs(tasks, predictions, repos)
    if in_process and workers not in (None, 1):
        _fail("--in-process runs one instance at a time: drop --workers or set it to 1")
    if backend_option and backend is None and config is None:
        backend = Backend.local
    fields = {
        "tasks": tasks,
        "predictions": predictions,
        "out": out,
        "repos_dir": str(repos) if repos else None,
        "backend.kind": backend.value if backend else None,
        "cache_root": str(cache_root) if cache_root else None,
        "backend.cache_root": str(cache_root) if cache_root else None,
        "workers": 1 if in_process else workers,
        "timeout_s": timeout,
        "limits.timeout_s": test_timeout,
        "limits.memory_mb": memory_mb,
        "limits.disk_mb": disk_mb,
        "instance_ids": _ids(instance_ids),
        "exclude_ids": _ids(exclude),
        "run_id": run_id,
        "clone_repos": clone,
        "repo_url": repo_url,
        "rerun_errors": rerun_errors or None,
        "force": force or None,
        "ray_address": ray_address,
        "in_process": in_process or None,
        "progress": progress,
    }
    cfg = evaluate_config(config, fields, _backend_options(backend_option))
    if offline_base:
        cfg = _with_offline_base(cfg)
    if rebuild_failed:
        cfg = with_rebuild_failed(cfg)
    _run_evaluate(cfg)


def with_rebuild_failed(cfg):
    """`cfg` whose backend builds again, once, environments whose build failed before
    now (the builders' retry_failed_builds and retry_failed_before: `images.` on docker),
    rerunning the instances that errored (rerun_errors, unless force reruns everything)."""
    import time

    retry = {"retry_failed_builds": True, "retry_failed_before": time.time()}
    backend = cfg.backend.model_dump(exclude_unset=True)
    if cfg.backend.kind == "docker":
        backend["images"] = {**backend.get("images", {}), **retry}
    else:
        backend |= retry
    update = {"backend": type(cfg.backend).model_validate(backend)}
    return cfg.model_copy(update=update | ({} if cfg.force else {"rerun_errors": True}))


def _with_offline_base(cfg):
    """`cfg` with its docker backend on the registry-free base image (made present in the
    engine: built with debootstrap once, then loaded from the cache), host interpreters
    and the wheelhouse (`envs.backends.offline_config`)."""
    from swelego_ray.envs.backends import offline_config
    from swelego_ray.runconfig import DockerBackendConfig

    if cfg.backend.kind != "docker":
        _fail("--offline-base is for --backend docker")
    url = cfg.backend.base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    cache_root = Path(cfg.cache_root) if cfg.cache_root else cfg.backend.cache_root
    try:
        offline = offline_config(url, cache_root)
    except Exception as exc:  # the engine unreachable, debootstrap failing: one line
        typer.secho(f"error: --offline-base: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    images = cfg.backend.images.model_copy(
        update=offline.images.model_dump(include={"base_image", "host_interpreters", "wheelhouse"})
    )
    options = cfg.backend.model_dump(exclude_unset=True) | {"images": images.model_dump()}
    return cfg.model_copy(update={"backend": DockerBackendConfig.model_validate(options)})


def _check_inputs(tasks: str | None, predictions: str | None, repos: Path | None) -> None:
    remote = (predictions or "").startswith("s3://")
    local = predictions not in (None, "gold", "empty") and not remote
    if local and not Path(str(predictions)).is_file():
        _fail(f"--predictions {predictions!r}: not gold, empty, an existing file or s3:// URI")
    if tasks is not None and not tasks.startswith("s3://") and not Path(tasks).is_file():
        _fail(f"--tasks {tasks!r}: no such file")
    if repos is not None and not repos.is_dir():
        _fail(f"--repos {repos}: not a directory (mkdir it to clone repositories into it)")


def _run_evaluate(cfg) -> None:
    """Run, print the report's place, exit with the jobs' code (3: instances errored)."""
    from swelego_ray.evaluate import LOG_DIR, run_evaluation
    from swelego_ray.grading import InfraFailure, is_infra_failure
    from swelego_ray.jobs import EXIT_INCOMPLETE, exit_code, funnel_of

    try:
        report = run_evaluation(cfg, console=_console())
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    out = cfg.out.rstrip("/")
    typer.echo(f"report: {out}/report.json; logs: {out}/{LOG_DIR}/{cfg.effective_run_id}/")
    code = exit_code(funnel_of(report), is_infra_failure)
    if code == EXIT_INCOMPLETE:
        errored = [r.report.reason or "" for r in report.results if r.report.reason]
        lost = sorted({reason for reason in errored if is_infra_failure(reason)})
        builds = " (--rebuild-failed: failed environment builds too)" * (
            InfraFailure.ENV_BUILD.value in lost
        )
        typer.secho(
            f"INCOMPLETE: instances errored ({', '.join(lost)}); "
            f"see report.md, rerun with --rerun-errors to retry them{builds}",
            fg=typer.colors.YELLOW,
            err=True,
        )
    raise typer.Exit(code)


def validate(
    candidates: Annotated[str, typer.Option("--candidates", help="Candidate tasks file.")],
    out: Annotated[str, typer.Option("--out", help="Output directory or s3:// URI.")],
    repos: Annotated[Path | None, typer.Option("--repos", help="Repositories directory.")] = None,
    change: Annotated[
        Change, typer.Option("--change", help="What each candidate's patch is.")
    ] = Change.auto,
    runs: Annotated[
        int, typer.Option("--runs", min=1, help="Runs per state (flaky tests dropped).")
    ] = 2,
    min_f2p: Annotated[int, typer.Option("--min-f2p", min=1)] = 1,
    min_p2p: Annotated[int, typer.Option("--min-p2p", min=0)] = 0,
    backend: Annotated[Backend, _BACKEND] = Backend.local,
    workers: Annotated[int | None, _WORKERS] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Deadline per item, seconds (host side).")
    ] = 3600.0,
    test_timeout: Annotated[float | None, _TEST_TIMEOUT] = None,
    memory_mb: Annotated[int | None, _MEMORY] = None,
    disk_mb: Annotated[int | None, _DISK] = None,
    force: Annotated[bool, typer.Option("--force", help="Ignore stored results.")] = False,
    cache_root: Annotated[Path | None, _CACHE] = None,
    ray_address: Annotated[str | None, _RAY] = None,
    in_process: Annotated[bool, _IN_PROCESS] = False,
    progress: Annotated[bool, _PROGRESS] = True,
) -> None:
    """Validate candidate tasks: FAIL_TO_PASS / PASS_TO_PASS from real runs.

    Flaky tests are dropped; candidates without FAIL_TO_PASS are dropped with a reason.

    Writes OUT/tasks.jsonl (kept), OUT/dropped.jsonl and OUT/validation.json.

    Refused before any work: an instance id that appears twice among the candidates (all
    duplicates are listed; nothing is de-duplicated), and an --out that is an existing
    file or cannot be written.

    Example:

      swelego validate --candidates candidates.jsonl --repos repos --out runs/val --runs 3
    """
    if not candidates.startswith("s3://") and not Path(candidates).is_file():
        _fail(f"--candidates {candidates!r}: no such file")
    if repos is not None and not repos.is_dir():
        _fail(f"--repos {repos}: not a directory")
    if in_process and workers not in (None, 1):
        _fail("--in-process runs one item at a time: drop --workers or set it to 1")
    workers = workers or (1 if in_process else 2)

    from swelego_ray.validate import ValidateConfig, run_validation

    fields = dict(
        candidates=candidates,
        out=out,
        repos_dir=str(repos) if repos else None,
        change=change.value,
        runs=runs,
        min_fail_to_pass=min_f2p,
        min_pass_to_pass=min_p2p,
        workers=workers,
        timeout_s=timeout,
        force=force,
        ray_address=ray_address,
        in_process=in_process,
        progress=progress,
        **_common(backend, cache_root, test_timeout, memory_mb, disk_mb),
    )
    cfg = _config(ValidateConfig, fields)
    try:
        report = run_validation(cfg, console=_console())
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(f"kept {len(report.kept)}, dropped {len(report.dropped)}: {out}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("validate")(validate)
