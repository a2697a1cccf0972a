"""swelego_ray.jobs: config loading (local and s3://), overrides, exit codes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from swelego_ray.funnel import Funnel
from swelego_ray.jobs import (
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_OK,
    JobConfigError,
    any_reason,
    config_mapping,
    load_config,
    run_job,
)
from swelego_ray.storage import Store


class Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: str
    workers: int = 2
    nested: dict[str, int] = {}


def test_config_from_file_or_s3_with_overrides(tmp_path, s3_server):
    (tmp_path / "c.yaml").write_text("tasks: a.jsonl\nworkers: 4\nnested: {x: 1}\n")
    cfg = load_config(Cfg, str(tmp_path / "c.yaml"), ["workers=8", "nested.y=2"])
    assert cfg == Cfg(tasks="a.jsonl", workers=8, nested={"x": 1, "y": 2})
    store = Store(s3_server.uri("configs"))
    store.write_bytes("c.yaml", b"tasks: s3://b/t.jsonl\n")
    assert load_config(Cfg, store.uri_of("c.yaml"), []).tasks == "s3://b/t.jsonl"
    assert config_mapping(None, ["a.b=[1, 2]", "c=true"]) == {"a": {"b": [1, 2]}, "c": True}
    with pytest.raises(JobConfigError, match=r"workers: Input should be a valid integer"):
        load_config(Cfg, str(tmp_path / "c.yaml"), ["workers=many"])
    with pytest.raises(JobConfigError, match="not key=value"):
        load_config(Cfg, None, ["workers"])
    with pytest.raises(JobConfigError, match="config not found"):
        load_config(Cfg, str(tmp_path / "missing.yaml"), [])


def test_a_mapping_override_replaces_and_env_interpolation(tmp_path, monkeypatch):
    (tmp_path / "c.yaml").write_text("tasks: ${oc.env:TASKS_URI}\nnested: {x: 1}\n")
    monkeypatch.setenv("TASKS_URI", "s3://bucket/tasks.jsonl")
    cfg = load_config(Cfg, str(tmp_path / "c.yaml"), ["nested={}"])
    assert cfg.tasks == "s3://bucket/tasks.jsonl" and cfg.nested == {}
    assert load_config(Cfg, str(tmp_path / "c.yaml"), [], nested={"z": 3}).nested == {"z": 3}


def _loader(path, overrides):
    return load_config(Cfg, path, overrides)


def test_exit_codes(capsys):
    def done(cfg):
        f = Funnel("demo")
        f.keep()
        f.drop("unresolved")  # a real outcome, not a failure of the job
        return f

    def lost(cfg):
        f = Funnel("demo")
        f.keep()
        f.drop("worker_crashed")
        return f

    def boom(cfg):
        raise RuntimeError("disk full")

    assert run_job("demo", _loader, done, ["tasks=t"]) == EXIT_OK
    assert "[demo] in=2 out=1" in capsys.readouterr().out
    assert run_job("demo", _loader, lost, ["tasks=t"]) == EXIT_INCOMPLETE
    assert "INCOMPLETE" in capsys.readouterr().out
    assert run_job("demo", _loader, done, ["tasks=t"], failing=any_reason) == EXIT_INCOMPLETE
    # A report carrying its funnel as a dict (Funnel.as_dict()) works the same way.
    report = {"funnel": lost(None).as_dict(), "other": 1}
    assert run_job("demo", _loader, lambda cfg: report, ["tasks=t"]) == EXIT_INCOMPLETE
    assert run_job("demo", _loader, boom, ["tasks=t"]) == EXIT_ERROR
    assert "disk full" in capsys.readouterr().err
    assert run_job("demo", _loader, done, ["bogus=1"]) == EXIT_CONFIG
    assert "bogus" in capsys.readouterr().err


def _job_main(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "jobs" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"job_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize(
    ("job", "argv", "names"),
    [
        ("evaluate", ["tasks=t.jsonl"], "out"),  # out is required
        ("validate", ["out=o", "runs=0"], "candidates"),
        ("sft", ["--config", "tiny_cpu"], "model"),
        ("check_cluster", ["timeout_s=-1"], "storage"),
    ],
)
def test_every_stage_job_rejects_a_bad_config_before_any_work(job, argv, names, capsys):
    """Each entrypoint loads its stage's own config class and names the missing field."""
    assert _job_main(job)(argv) == EXIT_CONFIG
    assert names in capsys.readouterr().err
