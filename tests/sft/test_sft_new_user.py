"""What a new user meets before training starts: the tiny model command, relative paths,
the data summary per format, and one-line errors for ordinary mistakes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from swelego_ray.cli.main import app
from swelego_ray.sft._data import prepare_data
from swelego_ray.sft._runtime import SFTInputError, check_resume
from swelego_ray.sft.config import load_config, resolve_uri

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "trajectories"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    res = CliRunner().invoke(app, ["models", "tiny", "--out", str(root / "tiny-model")])
    assert res.exit_code == 0, res.output
    assert "written to" in res.output
    return root / "tiny-model"


def test_models_tiny_builds_a_loadable_model_and_refuses_to_overwrite(tiny_model):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model)
    assert config.model_type == "qwen3" and config.max_position_embeddings == 32768
    assert AutoTokenizer.from_pretrained(tiny_model).chat_template
    res = CliRunner().invoke(app, ["models", "tiny", "--out", str(tiny_model)])
    assert res.exit_code == 2 and "already holds a model" in res.output


def test_relative_paths_are_resolved_on_the_driver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config("tiny_cpu", model="./tiny-model", data="d.jsonl", out="runs/x")
    assert cfg.model == str(tmp_path / "tiny-model")
    assert cfg.data == str(tmp_path / "d.jsonl") and cfg.out == str(tmp_path / "runs" / "x")
    assert resolve_uri("s3://bucket/key?region=x") == "s3://bucket/key?region=x"
    assert resolve_uri("~/d.jsonl") == str(Path(os.path.expanduser("~/d.jsonl")))


def test_cli_missing_data_is_one_line(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "sft",
            "--config",
            "tiny_cpu",
            "--data",
            "nope.jsonl",
            "--model",
            str(tiny_model),
            "--out",
            "runs/sft",
        ],
    )
    assert res.exit_code == 2
    assert res.output.strip() == f"error: data={tmp_path / 'nope.jsonl'}: no such file"
    assert not (tmp_path / "runs").exists()


def test_cli_unknown_format_is_one_line(tmp_path, tiny_model):
    res = CliRunner().invoke(
        app,
        [
            "sft",
            "--config",
            "tiny_cpu",
            "--data",
            str(EXAMPLES / "swe_play.jsonl"),
            "--model",
            str(tiny_model),
            "--out",
            str(tmp_path),
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 2 and "unknown format 'csv'" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_data_summary_per_format_names_the_users_file(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mixed = tmp_path / "mixed.jsonl"
    rows = (EXAMPLES / "swe_smith.jsonl").read_text() + (
        EXAMPLES / "nebius_swe_agent.jsonl"
    ).read_text()
    mixed.write_text(rows + '{"instance_id": "odd", "foo": 1}\n')
    cfg = load_config("tiny_cpu", model=str(tiny_model), data="mixed.jsonl", out="runs/sft")
    lines: list[str] = []
    prepared, funnel = prepare_data(cfg, echo=lines.append)
    text = "\n".join(lines)
    assert f"[read] {mixed}: 12 read, 1 unreadable" in text
    assert "openhands_text (" in text and "swe_agent (" in text
    assert f"! {mixed}:13 [unknown_format]" in text
    assert "[masking] swe_agent:" in text and "[masking] openhands_text:" in text
    assert "of assistant tokens masked (the plot's masked_fraction)" in text
    assert funnel.kept == 12 and funnel.dropped == {"unreadable:unknown_format": 1}
    report = json.loads(Path(prepared.report_uri).read_text())
    assert report["failures"][0]["detail"].startswith(f"{mixed}:13 ")
    assert "tmp" not in report["failures"][0]["detail"].replace(str(tmp_path), "")
    assert report["read"]["swe_agent"] == {"read": 6, "unreadable": 0}
    lines.clear()
    prepare_data(cfg, echo=lines.append)  # a rerun reuses the set and says so
    assert lines[0].startswith("reusing tokenised data") and "[read]" in lines[1]


def test_no_trainable_row_is_a_clear_input_error(tmp_path, tiny_model):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"instance_id": "a", "messages": [{"role": "user", "content": "hi"}]}\n')
    cfg = load_config("tiny_cpu", model=str(tiny_model), data=str(data), out=str(tmp_path / "o"))
    with pytest.raises(SFTInputError, match="no trainable example") as err:
        prepare_data(cfg, echo=lambda _: None)
    assert "[no_assistant_turn]" in str(err.value)


def test_resume_with_a_changed_setting_is_refused_before_workers(tmp_path):
    cfg = load_config("tiny_cpu", model="m", data="d.jsonl", out=str(tmp_path))
    first = SimpleNamespace(run_hash="h1", settings={"batch_size": 2, "max_length": 8192})
    check_resume(cfg, first)  # a new run records its settings
    ckpt = tmp_path / "checkpoints" / "sft" / "step_00000004"
    ckpt.mkdir(parents=True)
    (ckpt / "progress.json").write_text("{}")
    check_resume(cfg, first)  # the same settings resume
    changed = SimpleNamespace(run_hash="h2", settings={"batch_size": 1, "max_length": 8192})
    with pytest.raises(SFTInputError, match=r"changed: batch_size\); rerun it with the same"):
        check_resume(cfg, changed)


def test_no_placement_group_cleaner_on_a_cluster_without_state_api(ray_local):
    """The cleaner's state-API polls fail every second without a dashboard (a warning
    each, flooding the console); such clusters train without it."""
    from ray.train import ScalingConfig

    from swelego_ray.sft.train import _state_api_available, _trainer_without_pg_cleaner

    assert not _state_api_available()  # the project's local Ray runs no dashboard
    trainer = _trainer_without_pg_cleaner()(
        lambda: None, scaling_config=ScalingConfig(num_workers=1)
    )
    names = [type(c).__name__ for c in trainer._create_default_callbacks()]
    assert "PlacementGroupCleanerCallback" not in names and "BackendSetupCallback" in names


def test_preemption_watcher_is_off_only_while_a_local_cluster_fits(monkeypatch):
    from swelego_ray.sft.train import PREEMPTION_ENV, _local_cluster_quiet

    monkeypatch.delenv(PREEMPTION_ENV, raising=False)
    with _local_cluster_quiet(True):
        assert os.environ[PREEMPTION_ENV] == "0"  # reaches Ray Train's controller
    assert PREEMPTION_ENV not in os.environ
    with _local_cluster_quiet(False):  # a cluster with a dashboard keeps Ray's default
        assert PREEMPTION_ENV not in os.environ
    monkeypatch.setenv(PREEMPTION_ENV, "1")  # the user's choice wins
    with _local_cluster_quiet(True):
        assert os.environ[PREEMPTION_ENV] == "1"


def test_a_directory_of_trajectory_files_is_read_whole(tmp_path, tiny_model):
    from swelego_ray.sft._runtime import check_data

    (tmp_path / "empty").mkdir()
    with pytest.raises(SFTInputError, match=r"a directory without \.jsonl"):
        check_data(str(tmp_path / "empty"))
    check_data(str(EXAMPLES))
    cfg = load_config("tiny_cpu", model=str(tiny_model), data=str(EXAMPLES), out=str(tmp_path))
    lines: list[str] = []
    prepared, funnel = prepare_data(cfg, echo=lines.append)
    text = "\n".join(lines)
    assert f"[read] {EXAMPLES}: 28 read, 0 unreadable" in text  # 6 files, 4 formats
    report = json.loads(Path(prepared.report_uri).read_text())
    assert report["read"] == {
        "openai": {"read": 9, "unreadable": 0},
        "openhands_events": {"read": 7, "unreadable": 0},
        "openhands_text": {"read": 6, "unreadable": 0},
        "swe_agent": {"read": 6, "unreadable": 0},
    }
    assert funnel.kept == 28 and prepared.settings["data (file content)"]
