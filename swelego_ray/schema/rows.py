"""Rows of JSON and JSON Lines files as SWE-bench publishes tasks and predictions, with
where each row is, for errors that name the file and line."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)


class TaskFormatError(ValueError):
    """A task file row could not be read; names the file, line and problem."""


def json_rows(data: bytes, where: str, what: str = "tasks") -> tuple[list[Any], list[str]]:
    """The rows of a .json file and where each is ("item N" / "line N"): a JSON list (or
    an object of rows keyed by id); JSON Lines under a .json name are read as JSON Lines
    with a warning. Anything else is refused naming the file."""
    text = data.decode()
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise TaskFormatError(f"{where}: not JSON ({exc}); expected a list of {what}") from exc
        rows, places = jsonl_rows(text, where)
        logger.warning("%s holds JSON Lines, not one JSON document: read as JSON Lines", where)
        return rows, places
    if isinstance(loaded, dict):
        if "instance_id" in loaded:  # one row
            loaded = [loaded]
        elif all(isinstance(v, dict) for v in loaded.values()):
            loaded = list(loaded.values())
    if not isinstance(loaded, list):
        raise TaskFormatError(
            f"{where}: a JSON {type(loaded).__name__}, not a list of {what} (nor JSON Lines)"
        )
    return loaded, [f"item {i}" for i in range(len(loaded))]


def jsonl_rows(text: str, where: str) -> tuple[list[Any], list[str]]:
    """The rows of JSON Lines text and their line numbers ("line N"); a line that is not
    JSON is refused naming the file and line."""
    rows, places = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise TaskFormatError(f"{where}:{lineno}: not JSON: {exc}") from exc
        places.append(f"line {lineno}")
    return rows, places
