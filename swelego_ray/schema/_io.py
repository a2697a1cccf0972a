"""Task import/export: SWE-bench JSONL and Parquet, lossless in both directions."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from swelego_ray.schema._task import Task


class TaskFormatError(ValueError):
    """A task file row could not be read; names the file, line and problem."""


def text_problem(value: Any, field: str = "") -> str | None:
    """Where `value` (a string, or lists / dicts of them) holds text that is not valid
    Unicode, e.g. a lone surrogate that JSON can carry as "\\udcff", which nothing can
    encode as UTF-8: "model_patch: lone surrogate U+DCFF at offset 12", or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            char = ord(value[exc.start])
            return f"{field or 'text'}: lone surrogate U+{char:04X} at offset {exc.start}"
        return None
    if isinstance(value, dict):
        items = [(f"{field}.{k}" if field else str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(f"{field}[{i}]", v) for i, v in enumerate(value)]
    else:
        return None
    for name, item in items:
        problem = text_problem(item, name)
        if problem is not None:
            return problem
    return None


def duplicates(ids: Iterable[tuple[str, str]]) -> str | None:
    """Of (instance id, where) pairs ("line 2"), the ids seen more than once with where
    each was (e.g. "'a__b-1' (lines 2, 5)"), or None when every id is unique."""
    places: dict[str, list[str]] = defaultdict(list)
    for iid, where in ids:
        places[iid].append(where)
    repeated = [f"{iid!r} ({_places(at)})" for iid, at in places.items() if len(at) > 1]
    return "; ".join(repeated) or None


def _places(where: list[str]) -> str:
    """["line 1", "line 3"] -> "lines 1, 3" (as they are when the kinds differ)."""
    kinds = {w.partition(" ")[0] for w in where}
    if len(kinds) == 1 and all(" " in w for w in where):
        return f"{kinds.pop()}s " + ", ".join(w.partition(" ")[2] for w in where)
    return ", ".join(where)


def _parse_row(row: dict, where: str) -> Task:
    iid = row.get("instance_id", "?") if isinstance(row, dict) else "?"
    problem = text_problem(row)
    if problem is not None:
        raise TaskFormatError(f"{where} (instance_id={iid!r}): not valid Unicode: {problem}")
    try:
        return Task.model_validate(row)
    except (ValidationError, json.JSONDecodeError) as exc:
        raise TaskFormatError(f"{where} (instance_id={iid}): {exc}") from exc


def _unique(tasks: list[Task], where: list[str], path: str) -> list[Task]:
    """`tasks`, refused when an instance id appears twice: ids key every result."""
    repeated = duplicates((t.instance_id, w) for t, w in zip(tasks, where, strict=True))
    if repeated:
        raise TaskFormatError(
            f"{path}: duplicate instance ids (each task must appear once): {repeated}"
        )
    return tasks


def _is_remote(path: str | Path) -> bool:
    return str(path).startswith("s3://")


def _read_remote(uri: str) -> bytes:
    from swelego_ray.storage import Store, split_uri

    parent, name = split_uri(uri)
    try:
        return Store(parent).read_bytes(name)
    except KeyError as exc:
        raise FileNotFoundError(f"task file not found: {uri}") from exc


def read_tasks(path: str | Path) -> list[Task]:
    """Read tasks from .jsonl / .json / .parquet (a local path or an s3:// URI); unknown
    SWE-bench columns go to `meta`. A row that is not a task (text that is not valid
    Unicode included) or an instance id that appears twice refuses the file, naming the
    rows."""
    if _is_remote(path):
        where = str(path).split("?")[0]
        suffix = Path(where).suffix
        data = _read_remote(str(path))
    else:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"task file not found: {path}")
        where, suffix, data = str(path), path.suffix, path.read_bytes()
    if suffix == ".parquet":
        rows = pq.read_table(pa.BufferReader(data)).to_pylist()
        places = [f"row {i}" for i in range(len(rows))]
    elif suffix == ".json":
        rows = json.loads(data.decode())
        places = [f"item {i}" for i in range(len(rows))]
    else:
        rows, places = [], []
        for lineno, line in enumerate(data.decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TaskFormatError(f"{where}:{lineno}: not JSON: {exc}") from exc
            places.append(f"line {lineno}")
    tasks = [
        _parse_row(_split_extra(r), f"{where}:{at.removeprefix('line ')}")
        for r, at in zip(rows, places, strict=True)
    ]
    return _unique(tasks, places, where)


def _split_extra(row: dict) -> dict:
    """Move columns Task does not know (e.g. SWE-bench extras) into meta, losslessly."""
    known = set(Task.model_fields)
    extra = {k: v for k, v in row.items() if k not in known}
    out = {k: v for k, v in row.items() if k in known}
    if extra:
        out["meta"] = {**(out.get("meta") or {}), **extra}
    return out


def write_tasks(tasks: Iterable[Task], path: str | Path, *, swebench: bool = True) -> Path | str:
    """Write tasks (atomically) to a local path or an s3:// URI; returns where.

    swebench=True stores F2P/P2P as JSON strings like public dumps do.
    """
    rows = [t.to_swebench() if swebench else t.model_dump(mode="json") for t in tasks]
    suffix = Path(str(path).split("?")[0]).suffix
    if suffix == ".parquet":
        for row in rows:  # nested dicts with varying keys do not fit one Arrow type
            row["meta"] = json.dumps(row["meta"])
            row["env_spec"] = json.dumps(row["env_spec"])
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pylist(rows), sink)
        data = sink.getvalue().to_pybytes()
    else:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if _is_remote(path):
        from swelego_ray.storage import Store, split_uri

        parent, name = split_uri(str(path))
        Store(parent).write_bytes(name, data)
        return str(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
