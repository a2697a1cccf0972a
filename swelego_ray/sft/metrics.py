"""Training metrics: one JSON object per logged step (metrics.jsonl) and a PNG plot.

Rows carry: step, stage, stage_name, epoch, loss (per trained token, over all ranks),
lr, grad_norm, tokens_per_s (real tokens, padding excluded, summed over ranks, over the
row's window), trained_tokens, masked_fraction (tokens of error-masked assistant turns /
all assistant tokens: the data report's `masked_token_fraction`, here over the batches
actually run), no_loss_fraction (share of real tokens without loss: prompts,
observations, masked turns), padding_fraction (share of pad positions in the batches),
step_time_s, window_s (wall time the row covers), real_tokens and pad_tokens, and the
profile of the row's optimizer steps (seconds, mean over ranks): time_data_s (collation),
time_sync_s (waiting for the token count's all-reduce: mostly the slowest rank's lead),
time_compute_s (forward + backward, with the gradient collectives), time_optim_s
(clipping + optimizer); window_s minus their sum is logging and checkpointing.

The same scalars go to TensorBoard (`out`/tensorboard/, see swelego_ray.sft._runtime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PLOTTED = ("loss", "lr", "tokens_per_s", "masked_fraction", "padding_fraction", "grad_norm")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics JSONL file, in order; the last row wins for a repeated step."""
    rows: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[int(row["step"])] = row
    return [rows[s] for s in sorted(rows)]


def run_masked_fraction(rows: list[dict[str, Any]]) -> float | None:
    """Masked tokens / assistant tokens over all rows (token-weighted, as the data report's
    `masked_token_fraction`); None when the rows do not carry it."""
    masked = assistant = 0.0
    for r in rows:
        frac, trained = r.get("masked_fraction"), r.get("trained_tokens")
        if frac is None or trained is None or frac >= 1.0:
            continue
        assistant += trained / (1.0 - frac)
        masked += frac * trained / (1.0 - frac)
    return masked / assistant if assistant else None


def plot_metrics(rows: list[dict[str, Any]], out_png: str | Path, *, title: str = "") -> Path:
    """One panel per metric against the step, curriculum stages shaded and named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("no metrics rows to plot")
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True)
    spans = _stage_spans(rows)
    for ax, key in zip(axes.flat, PLOTTED, strict=True):
        ys = [r.get(key) for r in rows]
        pts = [(s, y) for s, y in zip(steps, ys, strict=True) if y is not None]
        if pts:  # markers: a run of a few steps would otherwise draw nothing visible
            marker = "o" if len(pts) <= 30 else None
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, marker=marker, ms=3)
        ax.set_title(key, fontsize=10)
        ax.grid(alpha=0.3)
        overall = run_masked_fraction(rows) if key == "masked_fraction" else None
        if overall is not None:  # per-step values swing with the batch; this is the report's
            ax.axhline(overall, color="grey", ls="--", lw=1)
            ax.set_title(f"{key} (dashed: whole run {overall:.1%})", fontsize=10)
        for i, (name, lo, hi) in enumerate(spans):
            ax.axvspan(lo - 0.5, hi + 0.5, color=f"C{i % 10}", alpha=0.08)
            if key == "loss":
                ax.text(
                    (lo + hi) / 2,
                    0.97,
                    name,
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="top",
                    fontsize=8,
                )
    for ax in axes[-1]:
        ax.set_xlabel("optimizer step")
    fig.suptitle(title or "SFT metrics (shaded: curriculum stages)")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _stage_spans(rows: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    spans: list[tuple[str, int, int]] = []
    for r in rows:
        name = str(r.get("stage_name", r.get("stage", "")))
        if spans and spans[-1][0] == name:
            spans[-1] = (name, spans[-1][1], r["step"])
        else:
            spans.append((name, r["step"], r["step"]))
    return spans
