"""Predictions as SWE-bench users write them: a misnamed patch key is refused naming
`model_patch` (it used to grade every instance as an empty patch: 0 %, exit 0), and a
JSON Lines file named .json is read as such (or refused naming the file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from swelego_ray.evaluate import load_predictions
from swelego_ray.schema import Task

TASKS = [
    Task(instance_id=f"o__r-{i}", repo="o/r", base_commit="0" * 40, patch=f"p{i}") for i in (1, 2)
]


@pytest.mark.parametrize("key", ["patch", "model", "prediction"])
def test_a_misnamed_patch_key_is_refused_naming_the_expected_one(tmp_path: Path, key):
    path = tmp_path / "preds.jsonl"
    rows = [
        {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": "d"},
        {"instance_id": "o__r-2", "model_name_or_path": "m", key: "diff --git a/x b/x"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError) as err:
        load_predictions(str(path), TASKS)
    message = str(err.value)
    assert f"{path}:2:" in message and "no 'model_patch' key" in message
    keys = ", ".join(sorted(["instance_id", key, "model_name_or_path"]))
    assert f"(keys: {keys})" in message
    assert "hold the patch as 'model_patch'" in message


def test_a_null_patch_is_an_empty_patch_not_a_missing_key(tmp_path: Path):
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([{"instance_id": "o__r-1", "model_patch": None}]))
    assert load_predictions(str(path), TASKS)["o__r-1"].model_patch is None


def test_json_lines_named_json_are_read_with_a_warning(tmp_path: Path, caplog):
    path = tmp_path / "preds.json"
    rows = [{"instance_id": f"o__r-{i}", "model_patch": f"d{i}"} for i in (1, 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level(logging.WARNING):
        preds = load_predictions(str(path), TASKS)
    assert {k: p.model_patch for k, p in preds.items()} == {"o__r-1": "d1", "o__r-2": "d2"}
    assert any(str(path) in r.getMessage() for r in caplog.records)


def test_unreadable_json_is_refused_naming_the_file(tmp_path: Path):
    path = tmp_path / "preds.json"
    path.write_text('{"instance_id": "o__r-1", "model_patch": ""}\n{oops\n')
    with pytest.raises(ValueError, match=r"preds\.json:2: not JSON"):
        load_predictions(str(path), TASKS)
    path.write_text("[{")
    with pytest.raises(ValueError, match=r"preds\.json: not JSON .*list of predictions"):
        load_predictions(str(path), TASKS)
