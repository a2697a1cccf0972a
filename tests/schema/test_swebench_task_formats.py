"""SWE-bench's splits as published, read as tasks: Lite / Full rows and Verified rows
(whose `difficulty` is a label) as JSONL, JSON, Parquet and local `datasets` directories
(hub snapshot, save_to_disk, load_dataset cache); a JSON Lines file named .json is read
as such, anything else is refused naming the file. Rows are written here in the
published shapes (F2P / P2P as JSON text, every field a string)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from swelego_ray.schema import TaskFormatError, read_tasks, write_tasks


def lite_row(i: int, repo: str = "psf/requests") -> dict:
    return {
        "repo": repo,
        "instance_id": f"{repo.replace('/', '__')}-{i}",
        "base_commit": f"{i:040x}",
        "patch": "diff --git a/a.py b/a.py\n",
        "test_patch": "diff --git a/t.py b/t.py\n",
        "problem_statement": "It breaks.",
        "hints_text": "",
        "created_at": "2014-11-01T02:20:16Z",
        "version": "2.4",
        "FAIL_TO_PASS": json.dumps(["t.py::test_new"]),
        "PASS_TO_PASS": json.dumps(["t.py::test_old"]),
        "environment_setup_commit": f"{i + 100:040x}",
    }


def verified_row(i: int) -> dict:
    return {**lite_row(i, "pallets/flask"), "difficulty": "<15 min fix"}


ROWS = [lite_row(1), lite_row(2), verified_row(3)]


def table(rows: list[dict]) -> pa.Table:
    """One Arrow table of rows that may lack columns (Arrow infers from the first row)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])


def check(tasks) -> None:
    assert [t.instance_id for t in tasks] == [r["instance_id"] for r in ROWS]
    assert tasks[0].FAIL_TO_PASS == ["t.py::test_new"] and tasks[0].version == "2.4"
    assert tasks[2].difficulty == "<15 min fix"
    assert tasks[0].difficulty is None


def test_verified_rows_keep_their_difficulty_label_through_a_round_trip(tmp_path):
    path = tmp_path / "verified.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    tasks = read_tasks(path)
    check(tasks)
    back = read_tasks(write_tasks(tasks, tmp_path / "again.jsonl"))
    assert back == tasks and json.loads(back[2].model_dump_json())["difficulty"] == "<15 min fix"


def test_json_list_and_parquet(tmp_path):
    (tmp_path / "lite.json").write_text(json.dumps(ROWS, indent=2))
    check(read_tasks(tmp_path / "lite.json"))
    pq.write_table(table(ROWS), tmp_path / "lite.parquet")
    check(read_tasks(tmp_path / "lite.parquet"))


def test_parquet_timestamps_become_iso_text(tmp_path):
    row = {**lite_row(1), "created_at": datetime(2014, 11, 1, 2, 20, 16, tzinfo=UTC)}
    pq.write_table(table([row]), tmp_path / "ts.parquet")
    assert read_tasks(tmp_path / "ts.parquet")[0].created_at == "2014-11-01T02:20:16+00:00"


def test_json_lines_named_json_are_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "lite.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    with caplog.at_level(logging.WARNING):
        check(read_tasks(path))
    messages = [r.getMessage() for r in caplog.records]
    assert any(str(path) in m and "JSON Lines" in m for m in messages)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"instance_id": "a"}\n{broken\n', r"broken\.json:2: not JSON"),
        ("[1, 2", r"broken\.json: not JSON .*expected a list of tasks"),
        ('"just text"', r"broken\.json: a JSON str, not a list of tasks"),
    ],
)
def test_unreadable_json_is_refused_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(TaskFormatError, match=problem):
        read_tasks(path)


def test_hub_snapshot_directory_reads_the_test_split(tmp_path):
    """huggingface_hub's snapshot of SWE-bench/SWE-bench_Lite: data/<split>-*.parquet."""
    data = tmp_path / "SWE-bench_Lite" / "data"
    data.mkdir(parents=True)
    pq.write_table(table(ROWS), data / "test-00000-of-00001.parquet")
    pq.write_table(table([lite_row(9)]), data / "dev-00000-of-00001.parquet")
    (tmp_path / "SWE-bench_Lite" / "README.md").write_text("# card\n")
    check(read_tasks(tmp_path / "SWE-bench_Lite"))  # test by default
    dev = read_tasks(tmp_path / "SWE-bench_Lite", split="dev")
    assert [t.instance_id for t in dev] == ["psf__requests-9"]
    with pytest.raises(TaskFormatError, match=r"no split 'train'; it has dev, test"):
        read_tasks(tmp_path / "SWE-bench_Lite", split="train")


def test_save_to_disk_directories_one_split_and_a_dataset_dict(tmp_path):
    import datasets  # installed with the test extra (trl needs it)

    split = datasets.Dataset(table(ROWS))
    split.save_to_disk(str(tmp_path / "one"))
    check(read_tasks(tmp_path / "one"))
    both = datasets.DatasetDict({"test": split, "dev": datasets.Dataset.from_list([lite_row(9)])})
    both.save_to_disk(str(tmp_path / "dict"))
    check(read_tasks(tmp_path / "dict"))
    assert len(read_tasks(tmp_path / "dict", split="dev")) == 1


def test_load_dataset_cache_arrow_file(tmp_path):
    """What `load_dataset` leaves in its cache: <name>-<split>.arrow (an Arrow stream)."""
    where = tmp_path / "cache" / "swe-bench_verified" / "default" / "0.0.0" / "abc123"
    where.mkdir(parents=True)
    rows = table(ROWS)
    arrow = str(where / "swe-bench_verified-test.arrow")
    with pa.OSFile(arrow, "wb") as sink, pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    (where / "dataset_info.json").write_text("{}")
    check(read_tasks(tmp_path / "cache"))


def test_a_directory_with_no_rows_or_ambiguous_splits_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskFormatError, match="not a datasets directory"):
        read_tasks(tmp_path / "empty")
    many = tmp_path / "many"
    many.mkdir()
    for name in ("train", "dev"):
        pq.write_table(table([lite_row(1)]), many / f"{name}.parquet")
    with pytest.raises(TaskFormatError, match=r"several splits \(dev, train\) and none is 'test'"):
        read_tasks(many)


def test_bad_row_in_a_directory_names_the_file_and_row(tmp_path):
    bad = {**lite_row(1), "FAIL_TO_PASS": "not json"}
    (tmp_path / "d").mkdir()
    pq.write_table(table([lite_row(2), bad]), tmp_path / "d" / "test.parquet")
    with pytest.raises(TaskFormatError, match=r"\(split test\): test\.parquet row 1"):
        read_tasks(tmp_path / "d")


def test_rows_path_is_a_path(tmp_path: Path):
    assert not (tmp_path / "nothing").exists()
    with pytest.raises(FileNotFoundError, match="task file not found"):
        read_tasks(tmp_path / "nothing")
