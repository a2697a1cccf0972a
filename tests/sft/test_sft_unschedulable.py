"""`swelego sft --gpu` where no node has a GPU: one clear line before any work, not a wait
without end (Ray Train waited forever for the GPU and ignored Ctrl-C)."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from swelego_ray.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "trajectories"


def test_sft_asking_for_a_gpu_no_node_has_fails_at_once(ray_local, tmp_path):
    model = tmp_path / "tiny-model"
    assert CliRunner().invoke(app, ["models", "tiny", "--out", str(model)]).exit_code == 0
    data = sorted(EXAMPLES.glob("*.jsonl"))[0]
    start = time.monotonic()
    res = CliRunner().invoke(
        app,
        ["sft", "--config", "tiny_cpu", "--data", str(data), "--model", str(model),
         "--out", str(tmp_path / "runs"), "--gpu", "--workers", "2"],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "GPU" in res.output and "no autoscaler can add one" in res.output, res.output
    assert time.monotonic() - start < 60
    assert not (tmp_path / "runs" / "checkpoints").exists()
