"""Loading predictions: gold / empty, SWE-bench JSONL and JSON (list or dict), bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.evaluate import load_predictions
from swelego_ray.schema import Task

TASKS = [
    Task(instance_id=f"o__r-{i}", repo="o/r", base_commit="0" * 40, patch=f"p{i}") for i in (1, 2)
]


def test_gold_and_empty():
    gold = load_predictions("gold", TASKS)
    assert {k: v.model_patch for k, v in gold.items()} == {"o__r-1": "p1", "o__r-2": "p2"}
    assert {v.model_patch for v in load_predictions("empty", TASKS).values()} == {""}


def test_jsonl_json_list_and_dict(tmp_path: Path):
    rows = [
        {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": "d", "extra_field": 1},
        {"instance_id": "o__r-2", "model_name_or_path": "m", "model_patch": None},
    ]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    as_list = tmp_path / "p.json"
    as_list.write_text(json.dumps(rows))
    as_dict = tmp_path / "d.json"
    as_dict.write_text(json.dumps({r["instance_id"]: r for r in rows}))
    for path in (jsonl, as_list, as_dict):
        preds = load_predictions(str(path), TASKS)
        assert preds["o__r-1"].model_patch == "d" and preds["o__r-2"].model_patch is None


def test_bad_rows_name_the_file_and_line(tmp_path: Path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"instance_id": "o__r-1"}\n{not json\n')
    with pytest.raises(ValueError, match=r"p.jsonl:2: not JSON"):
        load_predictions(str(path), TASKS)
    row = '{"instance_id": "o__r-1", "model_patch": ""}\n'
    path.write_text(row + row)
    with pytest.raises(ValueError, match=r"p.jsonl: duplicate .*: 'o__r-1' \(lines 1, 2\)"):
        load_predictions(str(path), TASKS)
    path.write_text('{"model_patch": "x"}\n')
    with pytest.raises(ValueError, match=r"p.jsonl:1: not a prediction"):
        load_predictions(str(path), TASKS)
    with pytest.raises(FileNotFoundError, match="or use gold / empty"):
        load_predictions(str(tmp_path / "missing.jsonl"), TASKS)


def test_predictions_from_s3(s3_server):
    from swelego_ray.storage import Store

    tasks = [Task(instance_id="o__r-1", repo="o/r", base_commit="a" * 40, patch="p")]
    store = Store(s3_server.uri("preds"))
    row = {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": "diff"}
    store.write_bytes("p.jsonl", (json.dumps(row) + "\n").encode())
    preds = load_predictions(store.uri_of("p.jsonl"), tasks)
    assert preds["o__r-1"].model_patch == "diff"
    with pytest.raises(FileNotFoundError, match=r"predictions file not found: s3://.*missing"):
        load_predictions(store.uri_of("missing.jsonl"), tasks)
