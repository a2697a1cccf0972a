"""The plumbing every `jobs/<stage>.py` entrypoint shares, so each stays a few lines.

A job: parse `--config FILE_OR_URI` and `key.path=value` overrides, load the stage's
config, call ONE library function, print the funnel, and exit with a code that says how
it went:

    0  done: every item finished (including items reused from an earlier run)
    1  the stage raised (traceback printed)
    2  bad config or arguments (the message names the field)
    3  incomplete: some items failed for infrastructure reasons (timeouts, crashed
       workers, lost nodes); they were recorded, and a rerun retries only them
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from swelego_ray.engine import ItemFailure
from swelego_ray.funnel import Funnel

C = TypeVar("C", bound=BaseModel)

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_INCOMPLETE = 0, 1, 2, 3
# Funnel drop reasons that mean "the job did not get to this item", not "the item is bad".
INCOMPLETE_REASONS = frozenset(failure.value for failure in ItemFailure)
Failing = Callable[[str], bool]


def engine_failures(reason: str) -> bool:
    """The default: items the engine lost (timeouts, crashes, errors in the item code)."""
    return reason in INCOMPLETE_REASONS


def any_reason(reason: str) -> bool:
    """Every dropped item fails the job (e.g. a cluster check)."""
    return True


class JobConfigError(ValueError):
    """The job's config file or overrides are invalid; the message names the field."""


def read_text(path_or_uri: str) -> str:
    """A local file or an s3:// URI, as text."""
    from swelego_ray.storage import read_source

    try:
        return read_source(path_or_uri, "config").decode()
    except FileNotFoundError as exc:
        raise JobConfigError(str(exc)) from None


def config_mapping(
    path_or_uri: str | None,
    overrides: Sequence[str] = (),
    *,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The raw config: a YAML file (local or s3://, `${oc.env:VAR}` interpolations
    allowed), then `fields` (e.g. CLI flags; None values are not given), then `a.b=value`
    overrides (values parsed as YAML). A mapping given by `fields` or an override
    replaces the file's, it is not merged into it: `item_resources={}` leaves none."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    loaded: Any = {}
    if path_or_uri:
        loaded = yaml.safe_load(read_text(path_or_uri)) or {}
        if not isinstance(loaded, dict):
            raise JobConfigError(f"{path_or_uri}: top level must be a mapping")
    try:
        conf = OmegaConf.create(loaded)
        for key, value in (fields or {}).items():
            if value is not None:
                OmegaConf.update(conf, key, value, merge=False)
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise JobConfigError(f"override {item!r} is not key=value")
            OmegaConf.update(conf, key, yaml.safe_load(value), merge=False)
        raw = OmegaConf.to_container(conf, resolve=True)
    except (OmegaConfBaseException, yaml.YAMLError) as exc:
        raise JobConfigError(f"config {path_or_uri or '(overrides)'}: {exc}") from None
    assert isinstance(raw, dict)
    return {str(k): v for k, v in raw.items()}


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as one line: `field.path: message; ...`."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
    )


def load_config(
    config_cls: type[C],
    path_or_uri: str | None,
    overrides: Sequence[str] = (),
    **fields: Any,
) -> C:
    """Config file (YAML, local or s3://), fields, then overrides, validated by
    `config_cls` (see `config_mapping`); JobConfigError names every bad field."""
    raw = config_mapping(path_or_uri, overrides, fields=fields)
    try:
        return config_cls.model_validate(raw)
    except ValidationError as exc:
        where = f" ({path_or_uri})" if path_or_uri else ""
        raise JobConfigError(
            f"invalid {config_cls.__name__}{where}: {validation_problems(exc)}"
        ) from None


def funnel_of(result: Any) -> Funnel | None:
    """The Funnel a stage returned: the result itself, or its `funnel` attribute or key,
    as a Funnel or in `Funnel.as_dict()` form."""
    if isinstance(result, Funnel):
        return result
    found = result.get("funnel") if isinstance(result, dict) else getattr(result, "funnel", None)
    if isinstance(found, Funnel):
        return found
    if isinstance(found, dict) and {"stage", "in", "out"} <= set(found):
        funnel = Funnel(str(found["stage"]), seen=found["in"], kept=found["out"])
        funnel.skipped_cached = found.get("reused_from_earlier_run", 0)
        funnel.dropped.update(found.get("dropped", {}))
        return funnel
    return None


def exit_code(funnel: Funnel | None, failing: Failing = engine_failures) -> int:
    """EXIT_INCOMPLETE if the funnel dropped items for a reason `failing` accepts."""
    if funnel is None:
        return EXIT_OK
    lost = sum(n for reason, n in funnel.dropped.items() if failing(reason))
    return EXIT_INCOMPLETE if lost else EXIT_OK


def run_job(
    stage: str,
    load: Callable[[str | None, list[str]], Any],
    run: Callable[[Any], Any],
    argv: Sequence[str] | None = None,
    *,
    description: str = "",
    failing: Failing = engine_failures,
) -> int:
    """Parse arguments, load the config with `load(path, overrides)`, call `run(config)`,
    print the funnel; returns the exit code (see the module docstring). Items dropped for
    a reason that `failing` accepts make the job incomplete."""
    parser = argparse.ArgumentParser(prog=f"jobs/{stage}.py", description=description)
    parser.add_argument("--config", help="YAML config: a local path or an s3:// URI")
    parser.add_argument("overrides", nargs="*", help="key.path=value overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load(args.config, list(args.overrides))
    except (JobConfigError, ValueError) as exc:
        print(f"[{stage}] bad config: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    start = time.monotonic()
    try:
        result = run(config)
    except Exception:
        traceback.print_exc()
        print(f"[{stage}] FAILED after {time.monotonic() - start:.1f}s", flush=True)
        return EXIT_ERROR
    funnel = funnel_of(result)
    if funnel is not None:
        print(funnel.render(), flush=True)
    code = exit_code(funnel, failing)
    verdict = "done" if code == EXIT_OK else "INCOMPLETE (rerun to retry the failed items)"
    print(f"[{stage}] {verdict} in {time.monotonic() - start:.1f}s", flush=True)
    return code
