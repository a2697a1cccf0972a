"""A real 2-worker CPU run of the SFT recipe on the project's tiny Qwen3 (one fit, shared):
every curriculum stage in order, falling loss, a worker killed mid-run and resumed from
the last checkpoint, and the Hugging Face export loading in transformers and vLLM."""

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

from swelego_ray.models.tiny import build_tiny_model, load_chat_template
from swelego_ray.sft.config import load_config
from swelego_ray.sft.metrics import read_metrics

KILL_STEP = 11  # rank 1 dies after this optimizer step, once; the last checkpoint is step 10
CHECKPOINT_EVERY = 5


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, ray_local):
    from swelego_ray.sft.train import run_sft

    root = tmp_path_factory.mktemp("sft_run")
    model = build_tiny_model(root / "base", seed=0)
    data = write_trajectories(root / "traj.jsonl", 96, turns=(3, 5, 8))
    events = root / "events.log"
    marker = root / "killed"
    config = load_config(
        "tiny_cpu",
        [
            "curriculum.epochs_per_stage=2",
            "curriculum.bucket_percentiles=[33.3, 66.7]",  # turns 3 / 5 / 8: one third each
            f"checkpoint_every={CHECKPOINT_EVERY}",
            "max_failures=1",
        ],
        model=str(model),
        data=str(data),
        out=str(root / "out"),
        workers=2,
    )

    def on_step(rank, progress):  # a closure: pickled by value into the Ray workers
        with open(events, "a") as fh:
            fh.write(f"{os.getpid()} {rank} {progress.step} {progress.stage_name}\n")
        if rank == 1 and progress.step == KILL_STEP and not marker.exists():
            marker.write_text("killed")
            os.kill(os.getpid(), 9)  # SIGKILL: no cleanup, the process is just gone

    scratch = Path(tempfile.gettempdir()).glob
    before = set(scratch("swelego-metrics-*"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25")  # reports cost ~0.3 s, not 2
        summary = run_sft(config, on_step=on_step)
    left = set(scratch("swelego-metrics-*")) - before
    return {"root": root, "summary": summary, "events": events, "marker": marker, "base": model,
            "scratch_left": left}  # fmt: skip


@pytest.mark.slow
def test_all_stages_in_order_with_falling_loss(sft_run):
    summary = sft_run["summary"]
    out = sft_run["root"] / "out"
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 25))  # 3 stages x 2 epochs x 4 steps
    assert summary["stages"] == ["easy", "medium", "hard"]
    names = [r["stage_name"] for r in rows]
    assert names == ["easy"] * 8 + ["medium"] * 8 + ["hard"] * 8
    first, last = rows[0]["loss"], rows[-1]["loss"]
    assert last < first - 1.5, (first, last)
    assert rows[0]["lr"] < rows[2]["lr"]  # warmup, then cosine down to ~0
    assert rows[-1]["lr"] < 0.05 * max(r["lr"] for r in rows)
    assert all(r["padding_fraction"] <= 0.10 for r in rows)  # length-grouped batches
    assert all(0.5 < r["no_loss_fraction"] < 0.95 for r in rows)  # prompts/observations
    report = json.loads(Path(summary["data"]).read_text())
    masked = sum(r["masked_fraction"] * (r["trained_tokens"] / (1 - r["masked_fraction"]))
                 for r in rows)  # fmt: skip
    assistant = sum(r["trained_tokens"] / (1 - r["masked_fraction"]) for r in rows)
    # the plot's masked_fraction is the data report's (every example seen twice)
    assert masked / assistant == pytest.approx(report["masking"]["masked_token_fraction"], abs=0.01)
    assert report["read"] == {"openai": {"read": 96, "unreadable": 0}}
    assert (out / "tensorboard").is_dir() and any((out / "tensorboard").iterdir())
    phases = ("time_data_s", "time_sync_s", "time_compute_s", "time_optim_s")
    assert all(0 <= sum(r[k] for k in phases) <= r["window_s"] * 1.01 for r in rows)  # profile
    assert report["funnel"]["out"] == 96
    assert report["masking"]["datasets"]  # the per-dataset, per-rule masking report
    assert report["masking"]["masked_turn_fraction"] > 0  # every 4th episode has an error turn
    assert (out / "metrics.png").stat().st_size > 10_000
    # the workers removed their local scratch, all but the one killed with SIGKILL
    assert len(sft_run["scratch_left"]) == 1, sft_run["scratch_left"]


@pytest.mark.slow
def test_killed_worker_resumes_from_last_checkpoint(sft_run):
    assert sft_run["marker"].exists(), "the kill never happened"
    lines = [ln.split() for ln in sft_run["events"].read_text().splitlines()]
    rank1 = [(int(pid), int(step)) for pid, rank, step, _ in lines if rank == "1"]
    pids = list(dict.fromkeys(pid for pid, _ in rank1))
    assert len(pids) == 2, "rank 1 should run in exactly two processes (killed, restarted)"
    before = [s for p, s in rank1 if p == pids[0]]
    after = [s for p, s in rank1 if p == pids[1]]
    last_ckpt = KILL_STEP // CHECKPOINT_EVERY * CHECKPOINT_EVERY
    assert before == list(range(1, KILL_STEP + 1))
    assert after == list(range(last_ckpt + 1, 25))  # resumed right after step 10, not at 1
    ckpts = sorted(p.name for p in (sft_run["root"] / "out/checkpoints/sft").glob("step_*"))
    assert ckpts == ["step_00000020", "step_00000024"]  # keep_checkpoints=2
    progress = json.loads((sft_run["root"] / "out/checkpoints/sft/step_00000024/progress.json")
                          .read_text())  # fmt: skip
    assert progress["done"] and progress["step"] == 24 and progress["stage_name"] == "hard"


@pytest.mark.slow
def test_export_loads_in_transformers_and_generates(sft_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(sft_run["summary"]["model"])
    assert (model_dir / "_MANIFEST.json").exists()
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert tok.chat_template == load_chat_template("qwen3_nothink")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(sft_run["base"])
    changed = [
        n for (n, p), (_, q) in zip(model.named_parameters(), base.named_parameters(), strict=True)
        if not torch.equal(p, q)
    ]  # fmt: skip
    assert len(changed) == len(list(base.parameters()))  # every tensor was trained
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Fix the bug in module3.py: f3 returns x - 3."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1] :])
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert "module" in text or "<tool_call>" in text or "Let" in text, text  # learnt the turns


VLLM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from vllm import LLM, SamplingParams

    if __name__ == "__main__":
        llm = LLM(model=sys.argv[1], dtype="float32", max_model_len=512, enforce_eager=True)
        msgs = [{"role": "user", "content": "Fix the bug in module3.py: f3 returns x - 3."}]
        out = llm.chat(msgs, SamplingParams(max_tokens=12, temperature=0))
        print("RESULT " + json.dumps({"token_ids": list(out[0].outputs[0].token_ids),
                                      "text": out[0].outputs[0].text}))
    """
)


@pytest.mark.slow
def test_export_loads_in_vllm_cpu_and_matches_transformers(sft_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(sft_run["summary"]["model"])
    script = tmp_path / "vllm_load.py"
    script.write_text(VLLM_SCRIPT)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_HOST_IP": "127.0.0.1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(model_dir)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    vllm_ids = json.loads(lines[0].removeprefix("RESULT "))["token_ids"]
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Fix the bug in module3.py: f3 returns x - 3."}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )  # fmt: skip
    hf = model.generate(**ids, max_new_tokens=12, do_sample=False)[0, ids["input_ids"].shape[1] :]
    assert vllm_ids[:3] == hf.tolist()[:3]  # same weights, same greedy start
