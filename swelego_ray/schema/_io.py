"""Task import/export: SWE-bench JSONL and Parquet, lossless in both directions.

Reads SWE-bench's splits as published (Lite, Verified, Full, ...): JSONL, JSON (a list,
or JSON Lines under a .json name, read as such with a warning), Parquet, and a local
`datasets` directory: a hub snapshot (`data/test-00000-of-00001.parquet`), a
`save_to_disk` directory (`*.arrow` files, one split or a DatasetDict with a directory
per split) or a `load_dataset` cache (`name-test.arrow`). A directory with several splits
gives `split` (default "test", the evaluation split), and names the splits it has.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from swelego_ray.schema._task import Task
from swelego_ray.schema.rows import TaskFormatError, json_rows, jsonl_rows

logger = logging.getLogger(__name__)

DEFAULT_SPLIT = "test"
_SPLIT = re.compile(r"(?:^|[/_.-])(train|test|dev|validation|valid)(?=[/_.-]|$)")
# Files of a datasets directory that hold no rows.
_METADATA = {"dataset_info.json", "state.json", "dataset_dict.json", "README.md"}


def _arrow_rows(path: Path) -> list[dict]:
    """Rows of a `datasets` Arrow file (IPC stream, as save_to_disk and the cache write;
    or IPC file format)."""
    import pyarrow.ipc as ipc

    try:
        with pa.memory_map(str(path)) as source:
            return ipc.open_stream(source).read_all().to_pylist()
    except pa.ArrowInvalid:
        with pa.memory_map(str(path)) as source:
            return ipc.open_file(source).read_all().to_pylist()


def _split_of(relative: str) -> str | None:
    found = _SPLIT.findall(relative.lower())
    return found[-1] if found else None


def _dataset_files(root: Path) -> dict[str | None, list[Path]]:
    """The row files of a datasets directory by split (None: no split in the name)."""
    files: dict[str | None, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*")):
        name = path.name
        if not path.is_file() or name in _METADATA or name.startswith(("cache-", ".")):
            continue
        if path.suffix in (".parquet", ".arrow", ".jsonl", ".json"):
            files[_split_of(str(path.relative_to(root)))].append(path)
    return files


def _read_dataset_dir(root: Path, split: str | None) -> tuple[list[dict], list[str], str]:
    """Rows, their places and the description of one split of a datasets directory."""
    files = _dataset_files(root)
    named = sorted(k for k in files if k is not None)
    if not files:
        raise TaskFormatError(
            f"{root}: no .parquet, .arrow, .jsonl or .json files: not a datasets directory"
        )
    if split is not None:
        chosen = split
    elif len(files) == 1:
        chosen = next(iter(files))
    elif DEFAULT_SPLIT in files:
        chosen = DEFAULT_SPLIT
        logger.info("%s: splits %s; reading %r", root, ", ".join(named), DEFAULT_SPLIT)
    else:
        raise TaskFormatError(
            f"{root}: several splits ({', '.join(named)}) and none is {DEFAULT_SPLIT!r}: choose one"
        )
    if chosen not in files:
        raise TaskFormatError(
            f"{root}: no split {chosen!r}; it has {', '.join(named) or 'no named split'}"
        )
    rows: list[dict] = []
    places: list[str] = []
    for path in files[chosen]:
        where = str(path.relative_to(root))
        if path.suffix == ".arrow":
            found = _arrow_rows(path)
            at = [f"{where} row {i}" for i in range(len(found))]
        elif path.suffix == ".parquet":
            found = pq.read_table(path).to_pylist()
            at = [f"{where} row {i}" for i in range(len(found))]
        elif path.suffix == ".json":
            found, at = json_rows(path.read_bytes(), str(path))
            at = [f"{where} {a}" for a in at]
        else:
            found, at = jsonl_rows(path.read_text(), str(path))
            at = [f"{where} {a}" for a in at]
        rows += found
        places += at
    return rows, places, f"{root} (split {chosen})" if chosen else str(root)


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
    from swelego_ray.storage import read_source

    return read_source(uri, "task file")


def read_tasks(path: str | Path, split: str | None = None) -> list[Task]:
    """Read tasks from .jsonl / .json / .parquet (a local path or an s3:// URI) or a local
    `datasets` directory (module docstring; `split` picks one, default "test"); unknown
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
        if path.is_dir():
            rows, places, where = _read_dataset_dir(path, split)
            pairs = zip(rows, places, strict=True)
            tasks = [_parse_row(_split_extra(r), f"{where}: {at}") for r, at in pairs]
            return _unique(tasks, places, where)
        where, suffix, data = str(path), path.suffix, path.read_bytes()
    if suffix == ".parquet":
        rows = pq.read_table(pa.BufferReader(data)).to_pylist()
        places = [f"row {i}" for i in range(len(rows))]
    elif suffix == ".json":
        rows, places = json_rows(data, where)
    else:
        rows, places = jsonl_rows(data.decode(), where)
    tasks = [
        _parse_row(_split_extra(r), f"{where}:{at.removeprefix('line ')}")
        for r, at in zip(rows, places, strict=True)
    ]
    return _unique(tasks, places, where)


def _split_extra(row: Any) -> Any:
    """Move columns Task does not know (e.g. SWE-bench extras) into meta, losslessly;
    dates (Parquet / Arrow timestamp columns) as ISO 8601 text."""
    if not isinstance(row, dict):
        return row  # refused by _parse_row, naming the row
    known = set(Task.model_fields)
    row = {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in row.items()}
    extra = {k: v for k, v in row.items() if k not in known}
    out = {k: v for k, v in row.items() if k in known}
    if extra:
        out["meta"] = {**(out.get("meta") or {}), **extra}
    return out


def select_tasks(
    tasks: list[Task],
    instance_ids: list[str] | None,
    exclude_ids: list[str] | None = None,
    *,
    source: str = "the tasks file",
) -> list[Task]:
    """The tasks `instance_ids` keeps (all when None) and `exclude_ids` does not drop, in
    their order; an id in either that names no task is refused (ValueError naming it)."""
    known = {t.instance_id for t in tasks}
    for flag, ids in (("instance ids", instance_ids), ("excluded ids", exclude_ids)):
        unknown = [i for i in ids or [] if i not in known]
        if unknown:
            raise ValueError(f"{flag} not in {source}: {', '.join(unknown)}")
    keep = set(instance_ids) if instance_ids is not None else known
    keep -= set(exclude_ids or [])
    return [t for t in tasks if t.instance_id in keep]


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
