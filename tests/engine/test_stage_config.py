"""StageRunConfig: the run settings validate and evaluate share, validated on the driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from swelego_ray.evaluate import EvaluateConfig
from swelego_ray.jobs import JobConfigError, load_config
from swelego_ray.runconfig import DockerBackendConfig, LocalBackendConfig
from swelego_ray.validate import ValidateConfig

ROOT = Path(__file__).resolve().parents[2]


def test_a_typo_in_the_backend_is_one_error_naming_the_field():
    with pytest.raises(JobConfigError) as exc:
        load_config(EvaluateConfig, None, ["tasks=t.jsonl", "out=o", "backend=dokcer"])
    message = str(exc.value)
    assert "backend" in message and "'dokcer'" in message and "'docker'" in message
    with pytest.raises(JobConfigError, match=r"backend\.docker\.tmpfs_gb: Extra inputs"):
        load_config(
            EvaluateConfig, None,
            ["tasks=t", "out=o", "backend={kind: docker, tmpfs_gb: 2}"],
        )  # fmt: skip


def test_a_bare_backend_name_and_a_full_backend_mapping():
    cfg = load_config(EvaluateConfig, None, ["tasks=t", "out=o", "backend=docker"])
    assert isinstance(cfg.backend, DockerBackendConfig)
    assert (cfg.backend_name, cfg.backend_options) == ("docker", {})
    cfg = load_config(
        ValidateConfig, None,
        ["candidates=c", "out=o", "backend.kind=docker", "backend.images.wheelhouse=true"],
    )  # fmt: skip
    assert cfg.backend_options == {"images": {"wheelhouse": True}}
    assert isinstance(EvaluateConfig(tasks="t", out="o").backend, LocalBackendConfig)


def test_shipped_job_configs_load_and_a_mapping_override_replaces_theirs():
    path = str(ROOT / "jobs" / "configs" / "evaluate.yaml")
    cfg = load_config(EvaluateConfig, path, [])
    assert cfg.item_resources == {"sandbox": 1} and cfg.backend_name == "docker"
    cfg = load_config(EvaluateConfig, path, ["item_resources={}", "backend=local"])
    assert cfg.item_resources == {} and cfg.backend_name == "local"
    engine = cfg.engine()
    assert (engine.workers, engine.item_timeout_s, engine.resources) == (256, 1800, {})
    validate = load_config(ValidateConfig, str(ROOT / "jobs" / "configs" / "validate.yaml"), [])
    assert validate.engine().item_timeout_s == validate.timeout_s


def test_run_rules_are_shared():
    with pytest.raises(ValueError, match="in_process runs one item at a time"):
        EvaluateConfig(tasks="t", out="o", in_process=True, workers=2)
    with pytest.raises(ValueError, match="never give tests a network"):
        ValidateConfig(candidates="c", out="o", limits={"network": True})
