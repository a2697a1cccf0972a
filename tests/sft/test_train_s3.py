"""SFT with everything on S3 (a moto server on loopback): the base model is downloaded on
the worker, the tokenised data, Ray Train checkpoints, metrics and the Hugging Face export
land in the bucket; a second identical run resumes the finished run instead of training
again. Runs in a subprocess with its own Ray, so every Ray process (controller included)
sees the test credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from traj_builders import write_trajectories

from swelego_ray.models.tiny import build_tiny_model
from swelego_ray.storage import Store, download_dir, upload_dir

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from swelego_ray.sft.config import load_config
    from swelego_ray.sft.train import run_sft

    if __name__ == "__main__":
        model, data, out, events = sys.argv[1:5]

        def on_step(rank, progress):  # pickled by value into the workers
            with open(events, "a") as fh:
                fh.write(f"{progress.step}\\n")

        config = load_config(
            "tiny_cpu",
            ["curriculum.enabled=false", "curriculum.epochs_per_stage=2", "checkpoint_every=4",
             "grad_accum=1", "batch_size=4"],
            model=model, data=data, out=out, workers=1,
        )
        for _ in range(2):  # the second, identical run must resume, not train again
            summary = run_sft(config, on_step=on_step)
            summary["steps_run"] = len(open(events).read().split())
            print("SUMMARY " + json.dumps(summary), flush=True)
    """
)


def _run(script: Path, *args: str) -> list[dict]:
    env = {**os.environ, "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25", "RAY_ADDRESS": ""}
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600, env=env
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")]
    assert proc.returncode == 0 and len(lines) == 2, (proc.stdout[-2000:], proc.stderr[-4000:])
    return [json.loads(line.removeprefix("SUMMARY ")) for line in lines]


@pytest.mark.slow
def test_sft_on_s3_checkpoints_exports_and_resumes(s3_server, tmp_path):
    model_store = Store(s3_server.uri("models/tiny"))
    upload_dir(build_tiny_model(tmp_path / "base", seed=0), model_store, "")
    data = write_trajectories(tmp_path / "traj.jsonl", 16, turns=(3, 4))
    Store(s3_server.uri("data")).write_bytes("traj.jsonl", data.read_bytes())
    out = s3_server.uri("runs/sft")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)

    events = tmp_path / "steps.log"
    before = _scratch_dirs()
    first, second = _run(script, model_store.uri, s3_server.uri("data/traj.jsonl"), out,
                         str(events))  # fmt: skip
    assert first["steps"] == 8 and first["final_loss"] < first["first_loss"]  # 16 x 2 epochs / 4
    assert first["model"].startswith("s3://") and first["checkpoint"].endswith("step_00000008")
    store = Store(out)
    keys = set(store.list(""))
    ckpts = {k.split("/")[2] for k in keys if k.startswith("checkpoints/sft/step_")}
    assert ckpts == {"step_00000004", "step_00000008"}
    assert {"metrics.jsonl", "metrics.png", "model/_MANIFEST.json"} <= keys
    assert any(k.startswith("checkpoints/sft/step_00000008/__0_0.distcp") for k in keys)

    from transformers import AutoModelForCausalLM

    local = download_dir(store, "model", tmp_path / "export")  # manifest-checked
    assert AutoModelForCausalLM.from_pretrained(local).config.vocab_size > 0

    assert second["funnel"]["reused_from_earlier_run"] == 16  # tokenised data reused
    assert first["steps_run"] == 8 and second["steps_run"] == 8  # no step ran the second time
    assert second["steps"] == 8 and second["checkpoint"] == first["checkpoint"]
    assert _scratch_dirs() - before == set()  # every process removed its scratch


def _scratch_dirs() -> set[Path]:
    """The SFT processes' scratch directories (metrics, s3 data and tokenizer copies)."""
    tmp = Path(tempfile.gettempdir())
    return {p for kind in ("metrics", "data", "tokenizer") for p in tmp.glob(f"swelego-{kind}-*")}
