"""Fast checks of the training side: presets, config validation, the loss arithmetic,
collation, the LR schedule, metrics files and the CLI's early rejections."""

from __future__ import annotations

import json
import math

import pytest
import torch

from swelego_ray.jobs import JobConfigError, config_mapping
from swelego_ray.sft._step import IGNORE_INDEX, collate, lr_lambda, micro_batch_loss_sum
from swelego_ray.sft.config import ConfigError, config_dir, load_config

PATHS = {"model": "/m", "data": "/d.jsonl", "out": "/o"}
PRESETS = {"tiny_cpu", "qwen3_8b", "qwen3_32b", "verifier_qwen3_8b", "verifier_tiny_cpu"}


def test_every_shipped_config_loads():
    files = sorted(config_dir().glob("*.yaml"))
    assert {f.stem for f in files} == PRESETS  # a new preset must be added here (and tested)
    loaded = {f.stem: load_config(f, **PATHS) for f in files}
    assert len(loaded) == len(PRESETS) == 5
    for name in loaded:
        text = (config_dir() / f"{name}.yaml").read_text()
        assert text.startswith("#") and f"--config {name}" in text, name  # launch command
    for name, lr in [("qwen3_8b", 1e-4), ("qwen3_32b", 5e-5)]:
        c = loaded[name]
        assert (c.lr, c.warmup_ratio, c.weight_decay, c.max_grad_norm) == (lr, 0.1, 0.01, 1.0)
        assert (c.batch_size, c.grad_accum, c.max_length) == (1, 8, 131072)
        assert (c.precision, c.use_gpu, c.fsdp, c.lr_schedule) == ("bf16", True, True, "cosine")
        assert c.rope_scaling and c.rope_scaling.factor == 4 and c.rope_scaling.rope_type == "yarn"
        assert c.curriculum.stages == ["easy", "medium", "hard"]
        assert c.curriculum.epochs_per_stage == 4 and c.chat_template == "qwen3_nothink"
    v = loaded["verifier_qwen3_8b"]
    assert (v.task, v.lr, v.curriculum.enabled, v.curriculum.epochs_per_stage) == (
        "verifier",
        2e-5,
        False,
        5,
    )
    assert loaded["tiny_cpu"].precision == "fp32" and not loaded["tiny_cpu"].use_gpu


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        (["precision=fp16"], "precision=fp16"),
        (["precision=bf16"], "use_gpu"),
        (["lr=-1"], "lr"),
        (["no_such_key=1"], "no_such_key"),
        (["curriculum.nope=1"], "curriculum.nope"),
        (["max_length=200000", "rope_scaling.factor=4"], "max_length"),
        (["workers=0", "use_gpu=true"], "workers=0"),
        (["max_length=1024", "verifier.max_length=2048"], "verifier.max_length"),
        (["attn_implementation=flash_attention_2"], "use_gpu"),
        (["curriculum.epochs_per_stage=[1, 2]"], "epochs_per_stage"),
    ],
)
def test_bad_settings_name_the_flag(overrides, flag):
    with pytest.raises(ConfigError) as exc:
        load_config("tiny_cpu", overrides, **PATHS)
    assert flag in str(exc.value)


def test_overrides_nest_and_parse_yaml_values():
    assert config_mapping(None, ["lr=2.0e-5", "curriculum.stages=[easy, hard]", "fsdp=false"]) == {
        "lr": 2e-5, "curriculum": {"stages": ["easy", "hard"]}, "fsdp": False
    }  # fmt: skip
    with pytest.raises(JobConfigError, match="key=value"):
        config_mapping(None, ["lr"])
    cfg = load_config("qwen3_8b", ["lr=3e-5"], workers=16, **PATHS)  # "3e-5" is a str in YAML
    assert (cfg.lr, cfg.workers, cfg.effective_batch) == (3e-5, 16, 128)


def test_preflight_rejects_a_context_longer_than_the_model(tmp_path):
    from swelego_ray.models.tiny import build_tiny_model
    from swelego_ray.sft._runtime import preflight

    model = build_tiny_model(tmp_path / "m", max_position_embeddings=512)
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    with pytest.raises(ValueError, match="max_length=16384 exceeds"):
        preflight(load_config("tiny_cpu", model=str(model), data=str(data), out="/o"))
    with pytest.raises(ValueError, match=r"no config\.json"):
        preflight(load_config("tiny_cpu", model=str(tmp_path), data=str(data), out="/o"))
    with pytest.raises(ValueError, match=r"data=/nowhere/d\.jsonl: no such file"):
        preflight(load_config("tiny_cpu", model=str(model), data="/nowhere/d.jsonl", out="/o"))


def test_collate_pads_right_and_counts_tokens():
    batch = collate([([5, 6, 7], [-100, 6, 7]), ([1, 2], [-100, -100])], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7], [1, 2, 0]]
    assert batch.labels.tolist() == [[-100, 6, 7], [-100, -100, -100]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert (batch.real_tokens, batch.pad_tokens, batch.loss_tokens) == (5, 1, 2)
    assert collate([([1, 2, 3], [1, 2, 3])], pad_id=0, multiple_of=8).input_ids.shape == (1, 8)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    from swelego_ray.models.tiny import build_tiny_model

    return AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path_factory.mktemp("m")))


def _rows(seed: int) -> list[tuple[list[int], list[int]]]:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for n in (11, 7):
        ids = torch.randint(10, 900, (n,), generator=g).tolist()
        labels = [t if 3 <= i < n - 1 or i == 1 else IGNORE_INDEX for i, t in enumerate(ids)]
        rows.append((ids, labels))
    return rows


def test_loss_sum_matches_transformers_on_trained_positions_only(tiny_model):
    """Only trained positions go through the LM head; the sum must equal HF's mean loss
    over the same labels times their count (padding and masked positions excluded)."""
    batch = collate(_rows(0), pad_id=0)
    ours = micro_batch_loss_sum(tiny_model, batch)
    ref = tiny_model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels
    ).loss
    assert torch.allclose(ours, ref * batch.loss_tokens, rtol=1e-5)
    single = collate(_rows(0)[:1], pad_id=0)  # no padding: the mask-free causal path
    ref = tiny_model(input_ids=single.input_ids, labels=single.labels).loss
    assert torch.allclose(micro_batch_loss_sum(tiny_model, single), ref * single.loss_tokens)


def test_token_weighted_gradient_equals_the_global_token_mean(tiny_model):
    """Micro-batches with different token counts, scaled by 1/N_global (world size 1),
    give the gradient of the mean over all trained tokens, not a mean of means."""
    a, b = collate(_rows(1)[:1], pad_id=0), collate(_rows(2), pad_id=0)
    n = a.loss_tokens + b.loss_tokens
    assert a.loss_tokens != b.loss_tokens
    tiny_model.zero_grad()
    for mb in (a, b):
        (micro_batch_loss_sum(tiny_model, mb) / n).backward()
    ours = [p.grad.clone() for p in tiny_model.parameters()]
    tiny_model.zero_grad()
    total = sum(micro_batch_loss_sum(tiny_model, mb) for mb in (a, b)) / n
    total.backward()
    for g, p in zip(ours, tiny_model.parameters(), strict=True):
        assert torch.allclose(g, p.grad, atol=1e-7)
    mean_of_means = (micro_batch_loss_sum(tiny_model, a) / a.loss_tokens
                     + micro_batch_loss_sum(tiny_model, b) / b.loss_tokens) / 2  # fmt: skip
    assert not math.isclose(mean_of_means.item(), total.item(), rel_tol=1e-4)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    f = lr_lambda(total_steps=100, warmup_steps=10, schedule="cosine", min_ratio=0.1)
    ramp = [f(s) for s in range(10)]
    assert ramp == sorted(ramp) and ramp[0] < 0.2 and f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.55, abs=0.01) and f(100) == pytest.approx(0.1)
    assert lr_lambda(100, 0, "constant", 0.0)(70) == 1.0


def test_metrics_keep_the_last_row_per_step_and_plot(tmp_path):
    from swelego_ray.sft.metrics import plot_metrics, read_metrics

    rows = [{"step": s, "stage_name": "easy" if s < 4 else "hard", "loss": 5.0 - s * 0.1,
             "lr": 1e-3, "tokens_per_s": 100.0, "masked_fraction": 0.7,
             "padding_fraction": 0.01, "grad_norm": 1.0} for s in range(1, 7)]  # fmt: skip
    lines = [json.dumps(r) for r in rows] + [json.dumps({**rows[3], "loss": 9.0})]  # a resume
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    back = read_metrics(tmp_path / "m.jsonl")
    assert [r["step"] for r in back] == [1, 2, 3, 4, 5, 6] and back[3]["loss"] == 9.0
    png = plot_metrics(back, tmp_path / "m.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_masked_fraction_weights_steps_by_their_assistant_tokens():
    from swelego_ray.sft.metrics import run_masked_fraction

    # step 1: 30 trained + 10 masked tokens; step 2: 90 trained + 0 masked -> 10 / 130
    rows = [{"masked_fraction": 0.25, "trained_tokens": 30}, {"masked_fraction": 0.0,
            "trained_tokens": 90}]  # fmt: skip
    assert run_masked_fraction(rows) == pytest.approx(10 / 130)
    assert run_masked_fraction([{"loss": 1.0}]) is None


def test_roc_auc():
    from swelego_ray.sft.verifier_score import roc_auc

    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5, 0.9], [0.5]) == 0.75
    with pytest.raises(ValueError):
        roc_auc([], [0.1])


def test_cli_rejects_bad_settings_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from swelego_ray.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["sft", "--data", "d", "--model", "m", "--out", "o", "lr=0"])
    assert res.exit_code == 2 and "lr" in res.output
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    (tmp_path / "m").mkdir()
    res = runner.invoke(app, ["train-verifier", "--config", "verifier_tiny_cpu", "--data",
                              str(data), "--model", str(tmp_path / "m"), "--out", "o"])  # fmt: skip
    assert res.exit_code == 2 and "no config.json" in res.output
    assert not any((tmp_path / "m").iterdir())


def test_window_rates_and_profile_of_the_logged_steps():
    from swelego_ray.sft.train import _Window

    window = _Window()
    step = {"loss_sum": 6.0, "loss_tokens": 3.0, "real_tokens": 10.0, "pad_tokens": 0.0,
            "masked_tokens": 1.0, "time_data_s": 0.01, "time_sync_s": 0.02,
            "time_compute_s": 0.3, "time_optim_s": 0.05, "lr": 1e-3, "grad_norm": 1.0}  # fmt: skip
    window.add(step)
    window.add(step | {"pad_tokens": 10.0, "lr": 2e-3})
    row = window.flush(torch.device("cpu"))  # one process: no collective
    assert row["loss"] == 2.0 and row["lr"] == 2e-3
    assert row["padding_fraction"] == pytest.approx(10 / 30)
    assert row["masked_fraction"] == pytest.approx(2 / 8)
    assert row["time_compute_s"] == pytest.approx(0.6) and row["time_data_s"] == pytest.approx(0.02)
    assert row["window_s"] > 0 and row["step_time_s"] == pytest.approx(row["window_s"] / 2)
    assert window.flush(torch.device("cpu"))["real_tokens"] == 0  # the window starts over
