"""SFT throughput: this project's Ray Train recipe vs a plain Hugging Face Trainer.

Same tiny Qwen3 (swelego_ray.models.tiny), same tokenised examples (error-masked,
per-turn labels), same machine, same effective batch (8 sequences per optimizer step),
same epochs, lr schedule and clipping. Printed side by side in one run:

- tokens/s: real (non-pad) tokens processed per second of the training loop (model
  loading, Ray start-up and export excluded for every contender);
- padding: pad positions / all positions of the batches actually run;
- masking cost: tokenising the trajectories with vs without the error-masking rules.

Contenders: `swelego (2 workers, FSDP2)`: FSDP2 over gloo, 2 Ray Train workers with 1
thread each; `swelego (2 workers, DDP)`: the same with `fsdp=false` (one gradient
all-reduce per optimizer step instead of per-layer all-gathers and reduce-scatters in every
micro-batch: what a model this small wants); `swelego (in-process)`: the recipe with
workers=0 (no FSDP, torch's default threads); `HF Trainer`: transformers.Trainer, random
batches padded to the longest (its default); `HF Trainer group_by_length`: its
length-grouping option, the reference of the "vs HF group_by_length" column.

    .venv/bin/python benchmarks/sft_bench.py [--trajectories 160] [--epochs 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sft"))  # the synthetic trajectory builder
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_common as common  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

EFFECTIVE_BATCH = 8
PHASES = {  # the recipe's per-step profile (metrics.jsonl), mean over ranks
    "time_data_s": "collate",
    "time_sync_s": "token-count all-reduce wait",
    "time_compute_s": "forward+backward (with gradient collectives)",
    "time_optim_s": "clip+optimizer",
}


def _trajectories(path: Path, n: int) -> Path:
    from traj_builders import write_trajectories

    # 3 to 30 assistant turns and file listings of varied length: ~300 to ~4,000 tokens
    return write_trajectories(path, n, turns=tuple(range(3, 31, 3)), seed=0, max_extra_lines=12)


def masking_cost(data: Path, model_dir: Path) -> dict[str, float]:
    from transformers import AutoTokenizer

    from swelego_ray.schema import read_trajectories
    from swelego_ray.sft.masking import MaskingConfig
    from swelego_ray.sft.prepare import prepare_sft_examples

    tok = AutoTokenizer.from_pretrained(model_dir)
    trajs = read_trajectories(data).trajectories
    out = {}
    prepare_sft_examples(trajs[:8], tok, max_length=4096)  # warm up (template compile)
    for label, cfg in [("with", MaskingConfig()), ("without", MaskingConfig(enabled=False))]:
        times = []
        for _ in range(3):  # best of 3: the machine is shared
            t0 = time.perf_counter()
            prepared = prepare_sft_examples(trajs, tok, max_length=4096, masking=cfg)
            times.append(time.perf_counter() - t0)
        out[f"tokenise_{label}_masking_s"] = min(times)
        if label == "with":
            out["masked_turn_fraction"] = prepared.masking.masked_fraction()
            out["masked_token_fraction"] = prepared.masked_token_fraction()
            examples = prepared.examples
    out["examples"] = examples
    return out


def run_swelego(
    data: Path, model_dir: Path, out: Path, workers: int, epochs: int, fsdp: bool = True
) -> dict:
    from swelego_ray.sft.config import load_config
    from swelego_ray.sft.metrics import read_metrics
    from swelego_ray.sft.train import run_sft

    per_step = EFFECTIVE_BATCH // (2 * max(workers, 1))
    config = load_config(
        "tiny_cpu",
        [
            "curriculum.enabled=false",
            f"curriculum.epochs_per_stage={epochs}",
            "batch_size=2",
            f"grad_accum={per_step}",
            "max_length=4096",
            "checkpoint_every=100000",
            "log_every=1",
            f"fsdp={str(fsdp).lower()}",
        ],
        model=str(model_dir),
        data=str(data),
        out=str(out),
        workers=workers,
    )
    t0 = time.perf_counter()
    run_sft(config)
    wall = time.perf_counter() - t0
    rows = read_metrics(out / "metrics.jsonl")[1:]  # the first step warms up
    real = sum(r["real_tokens"] for r in rows)
    pad = sum(r["pad_tokens"] for r in rows)
    loop = sum(r["window_s"] for r in rows)
    profile = {k: sum(r.get(k, 0.0) for r in rows) / loop for k in PHASES}
    profile["other (logging, checkpoints)"] = 1.0 - sum(profile.values())
    return {
        "tokens_per_s": real / loop,
        "padding": pad / (real + pad),
        "final_loss": rows[-1]["loss"],
        "steps": len(rows) + 1,
        "wall_s": loop,
        "run_s": wall,
        "profile": profile,
    }


class _AfterFirstStep(TrainerCallback):
    """Starts the clock at the end of HF's first optimizer step, with the real tokens seen by
    then: the first step warms up, and is left out for the swelego contenders too."""

    def __init__(self, seen: dict[str, int]) -> None:
        self.seen, self.t0, self.real0 = seen, time.perf_counter(), 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            self.t0, self.real0 = time.perf_counter(), self.seen["real"]


def run_hf(examples: list, model_dir: Path, out: Path, epochs: int, group: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ds = Dataset.from_dict(
        {"input_ids": [e.input_ids for e in examples], "labels": [e.labels for e in examples]}
    )
    base = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    seen = {"real": 0, "pad": 0}

    def collate(features):
        batch = base(features)
        real = int(batch["attention_mask"].sum())
        seen["real"] += real
        seen["pad"] += batch["attention_mask"].numel() - real
        return batch

    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=EFFECTIVE_BATCH // 2,
        num_train_epochs=epochs,
        learning_rate=3e-3,
        lr_scheduler_type="cosine",
        warmup_steps=0.1,  # a float < 1 is a ratio in transformers 5
        weight_decay=0.01,
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        train_sampling_strategy="group_by_length" if group else "random",
        dataloader_num_workers=0,
        seed=0,
        disable_tqdm=True,
    )
    after_first = _AfterFirstStep(seen)
    trainer = Trainer(
        model=model, args=args, train_dataset=ds, data_collator=collate, callbacks=[after_first]
    )
    result = trainer.train()
    loop = time.perf_counter() - after_first.t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "tokens_per_s": (seen["real"] - after_first.real0) / loop,
        "padding": seen["pad"] / (seen["real"] + seen["pad"]),
        "final_loss": losses[-1] if losses else float("nan"),
        "steps": result.global_step,
        "wall_s": loop,
    }


def _contenders(data: Path, examples: list, model_dir: Path, root: Path, args) -> dict:
    """name -> run(repeat index) -> result dict."""
    out = {}
    if not args.only_hf:
        out["swelego (2 workers, FSDP2)"] = lambda r: run_swelego(
            data, model_dir, root / f"ours2-{r}", 2, args.epochs
        )
        out["swelego (2 workers, DDP)"] = lambda r: run_swelego(
            data, model_dir, root / f"ours2ddp-{r}", 2, args.epochs, fsdp=False
        )
        out["swelego (in-process)"] = lambda r: run_swelego(
            data, model_dir, root / f"ours0-{r}", 0, args.epochs
        )
    out["HF Trainer"] = lambda r: run_hf(examples, model_dir, root / f"hf-{r}", args.epochs, False)
    out["HF Trainer group_by_length"] = lambda r: run_hf(
        examples, model_dir, root / f"hfg-{r}", args.epochs, True
    )
    return out


def _median_run(runs: list[dict]) -> dict:
    """The run with the median tokens/s, with every run's tokens/s beside it."""
    ordered = sorted(runs, key=lambda x: x["tokens_per_s"])
    best = dict(ordered[(len(ordered) - 1) // 2])
    best["all_tokens_per_s"] = [round(x["tokens_per_s"]) for x in runs]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trajectories", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per contender (alternating order; median)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only-hf", action="store_true", help="skip the swelego runs (debug)")
    parser.add_argument(
        "--contenders",
        help="comma-separated names to run (e.g. 'FSDP2,DDP,group_by_length'); the reference "
        "HF Trainer group_by_length always runs",
    )
    args = parser.parse_args()
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25")

    from swelego_ray.models.tiny import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="sft-bench-") as tmp:
        root = Path(tmp)
        model_dir = build_tiny_model(root / "model", seed=0)
        data = _trajectories(root / "traj.jsonl", args.trajectories)
        cost = masking_cost(data, model_dir)
        examples = cost.pop("examples")
        contenders = _contenders(data, examples, model_dir, root, args)
        if args.contenders:
            wanted = [w.strip() for w in args.contenders.split(",")] + ["group_by_length"]
            contenders = {n: c for n, c in contenders.items() if any(w in n for w in wanted)}
        runs: dict[str, list[dict]] = {name: [] for name in contenders}
        for r in range(args.repeats):  # alternate the order: load drifts on a shared machine
            order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
            for name in order:
                runs[name].append(contenders[name](r))
        results = {name: _median_run(rs) for name, rs in runs.items()}
    n_tokens = sum(len(e.input_ids) for e in examples)
    peer = results["HF Trainer group_by_length"]["tokens_per_s"]
    print(f"\n{len(examples)} examples, {n_tokens} tokens, effective batch {EFFECTIVE_BATCH}, "
          f"{args.epochs} epoch(s); load average {common.load_average()}")  # fmt: skip
    common.print_table(
        ["trainer", "tokens/s", "vs HF group_by_length", "padding", "steps", "final loss",
         "loop s", "tokens/s of each run"],
        [
            [name, f"{r['tokens_per_s']:.0f}", f"{r['tokens_per_s'] / peer:.2f}x",
             f"{r['padding']:.1%}", str(r["steps"]), f"{r['final_loss']:.3f}",
             f"{r['wall_s']:.1f}", " ".join(map(str, r["all_tokens_per_s"]))]
            for name, r in results.items()
        ],
    )  # fmt: skip
    print("\nwhere the loop time goes (swelego contenders, mean rank, share of the loop):")
    for name, r in results.items():
        if "profile" in r:
            shares = ", ".join(f"{PHASES.get(k, k)} {v:.1%}" for k, v in r["profile"].items())
            print(f"  {name}: {shares}")
    with_m, without_m = cost["tokenise_with_masking_s"], cost["tokenise_without_masking_s"]
    print(f"\nmasking cost: tokenise {len(examples)} trajectories with masking {with_m:.2f} s, "
          f"without {without_m:.2f} s ({with_m / without_m:.2f}x); masked "
          f"{cost['masked_turn_fraction']:.1%} of assistant turns, "
          f"{cost['masked_token_fraction']:.1%} of assistant tokens")  # fmt: skip
    print(
        "targets: >= 1.00x HF Trainer group_by_length tokens/s, padding <= 10 %; the "
        "machine is shared: compare within one run, and rerun before trusting a ratio"
    )
    data = {"machine": common.machine_description(), "when": common.now_utc(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "results": results, "masking": cost}  # fmt: skip
    print(f"results: {common.write_results('sft', data, args.json)}")


if __name__ == "__main__":
    main()
