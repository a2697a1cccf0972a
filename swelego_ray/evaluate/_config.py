"""The evaluation config and prediction loading."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from swelego_ray.envs.repos import GITHUB_URL
from swelego_ray.runconfig import StageRunConfig
from swelego_ray.schema import Task, duplicates, text_problem
from swelego_ray.schema.rows import json_rows, jsonl_rows
from swelego_ray.storage import read_source

GOLD, EMPTY = "gold", "empty"
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
PATCH_KEY = "model_patch"


class EvaluateConfig(StageRunConfig):
    """Everything one evaluation run needs; rejected as a whole before any work starts.
    The run settings (backend, workers, timeout_s per instance, limits, Ray) are
    StageRunConfig's."""

    tasks: str
    """Tasks file (.jsonl / .json / .parquet), local path or s3:// URI."""
    predictions: str = GOLD
    """"gold" (each task's own patch), "empty" (no change), or a SWE-bench predictions
    file: JSONL (or a .json list) of {instance_id, model_name_or_path, model_patch}."""
    out: str
    """Where results, per-instance logs and report.json / report.md go (path or s3://)."""
    repos_dir: str | None = None
    """Directory holding repositories as owner__name (or owner__name.git)."""
    run_id: str | None = None
    """SWE-bench's run id: per-instance logs go to
    `out/logs/run_evaluation/<run_id>/<model>/<instance>/` and the run report is also
    written as `out/<model>.<run_id>.json`. Default: the name of `out`."""
    instance_ids: list[str] | None = None
    """Evaluate only these instances (each must exist in the tasks file)."""
    exclude_ids: list[str] | None = None
    """Leave these instances out (each must exist in the tasks file)."""
    clone_repos: bool = True
    """Clone a repository missing from `repos_dir` into it (`owner__name.git`) from
    `repo_url`; `repos_dir` stays the offline cache (nothing is fetched for what it has)."""
    repo_url: str = GITHUB_URL
    """Where a missing repository is cloned from: `{repo}` (owner/name), `{owner}`,
    `{name}` are filled in; e.g. file:///srv/git/{owner}__{name}.git."""
    rerun_errors: bool = False
    """Rerun instances whose stored result is an infrastructure error."""
    force: bool = False
    """Ignore every stored result and run again."""

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str | None) -> str | None:
        if value is not None and (not _RUN_ID_RE.match(value) or value in (".", "..")):
            raise ValueError(f"run id {value!r}: use letters, digits, '.', '_' and '-' only")
        return value

    @model_validator(mode="after")
    def _check(self) -> EvaluateConfig:
        if self.force and self.rerun_errors:
            raise ValueError("force already reruns everything; drop rerun_errors")
        if self.timeout_s <= self.limits.timeout_s:
            raise ValueError(
                f"the per-instance deadline (timeout_s={self.timeout_s}) must exceed the "
                f"per-command timeout (limits.timeout_s={self.limits.timeout_s})"
            )
        if self.instance_ids is not None and not self.instance_ids:
            raise ValueError("instance_ids is empty; omit it to evaluate every task")
        if self.clone_repos and "{" not in self.repo_url:
            raise ValueError(f"repo_url {self.repo_url!r} names no {{repo}} / {{owner}} / {{name}}")
        return self

    @property
    def effective_run_id(self) -> str:
        """`run_id`, or the name of `out` (made a valid run id)."""
        if self.run_id:
            return self.run_id
        name = self.out.rstrip("/").rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "swelego"


class Prediction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    instance_id: str
    model_name_or_path: str = ""
    model_patch: str | None = ""

    def text_problem(self) -> str | None:
        """Which field holds text that is not valid Unicode (a lone surrogate, which JSON
        can carry but no patch can apply), or None."""
        return text_problem(self.model_dump())

    @property
    def display_name(self) -> str:
        """model_name_or_path, with anything that is not valid Unicode replaced."""
        return self.model_name_or_path.encode("utf-8", "replace").decode()


def _missing_patch_key(row: Any) -> str | None:
    """Why a prediction row lacks SWE-bench's patch key (`model_patch`; null means an
    empty patch), naming the keys it has, or None. A misnamed key (`patch`, `model`)
    would otherwise grade every instance as an empty patch."""
    if not isinstance(row, dict) or PATCH_KEY in row:
        return None
    keys = ", ".join(sorted(map(str, row))) or "none"
    return (
        f"no {PATCH_KEY!r} key (keys: {keys}); SWE-bench predictions hold the patch as "
        f"{PATCH_KEY!r} (and the model as 'model_name_or_path')"
    )


def load_predictions(source: str, tasks: list[Task]) -> dict[str, Prediction]:
    """Predictions by instance id; every id must name a task and appear once (a file with
    duplicates is refused, listing them all). Text that is not valid Unicode is kept here:
    it makes that instance an error (`Prediction.text_problem`), not the whole file."""
    if source == GOLD:
        return {
            t.instance_id: Prediction(
                instance_id=t.instance_id, model_name_or_path=GOLD, model_patch=t.patch
            )
            for t in tasks
        }
    if source == EMPTY:
        return {
            t.instance_id: Prediction(
                instance_id=t.instance_id, model_name_or_path=EMPTY, model_patch=""
            )
            for t in tasks
        }
    try:
        data = read_source(source, "predictions file")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc} (or use gold / empty)") from None
    path = source  # a local path or an s3:// URI, named in every error
    if source.endswith(".json"):
        rows, places = json_rows(data, str(path), "predictions")
    else:
        rows, places = jsonl_rows(data.decode(), str(path))
    known = {t.instance_id for t in tasks}
    preds: list[Prediction] = []
    for row, place in zip(rows, places, strict=True):
        at = f"{path}:{place.removeprefix('line ')}"
        missing = _missing_patch_key(row)
        if missing:
            raise ValueError(f"{at}: {missing}")
        try:
            pred = Prediction.model_validate(row)
        except ValueError as exc:
            raise ValueError(f"{at}: not a prediction: {exc}") from exc
        if pred.instance_id not in known:
            raise ValueError(f"{at}: instance_id {pred.instance_id!r} is not in the tasks file")
        preds.append(pred)
    repeated = duplicates((p.instance_id, at) for p, at in zip(preds, places, strict=True))
    if repeated:
        raise ValueError(
            f"{path}: duplicate instance ids (one prediction per instance): {repeated}"
        )
    return {p.instance_id: p for p in preds}
