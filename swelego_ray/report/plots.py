"""The report's figures: matplotlib (Agg) figures rendered to PNG bytes, one per section."""

from __future__ import annotations

import io
from typing import Any

from swelego_ray.ablate.records import AblationResult
from swelego_ray.report.records import (
    BucketRow,
    FunnelRow,
    LossCurve,
    MaskingSection,
    StageTiming,
    TTSResult,
)


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _hbar(labels: list[str], values: list[float], title: str, xlabel: str) -> bytes:
    fig, ax = _figure(7.5, 0.45 * len(labels) + 1.4)
    ax.barh(labels, values, color="C0")
    ax.invert_yaxis()
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:g}", va="center", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def funnels(rows: list[FunnelRow]) -> bytes:
    """Per stage: items out (kept) and dropped, stacked to the items in."""
    fig, ax = _figure(8, 0.45 * len(rows) + 1.6)
    names = [r.stage for r in rows]
    kept = [r.kept for r in rows]
    dropped = [r.seen - r.kept for r in rows]
    ax.barh(names, kept, color="C2", label="out")
    ax.barh(names, dropped, left=kept, color="C3", alpha=0.7, label="dropped")
    for y, r in enumerate(rows):
        ax.text(r.seen, y, f" {r.kept}/{r.seen}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("items")
    ax.set_title("Funnel per stage (out / in)")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def counts(values: dict[str, int], title: str) -> bytes:
    return _hbar(list(values), [float(v) for v in values.values()], title, "count")


def curriculum(rows: list[BucketRow]) -> bytes:
    fig, ax = _figure(7, 3.2)
    names = [_bucket_name(r) for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r.examples for r in rows], width=0.4, label="examples")
    ax.bar([i + 0.2 for i in x], [r.steps for r in rows], width=0.4, label="optimizer steps")
    ax.set_xticks(list(x), names)
    ax.set_title("Curriculum stages (in training order)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _bucket_name(row: BucketRow) -> str:
    if row.low is None or row.high is None:
        return row.name
    return f"{row.name}\n[{row.low:g}, {row.high:g}{']' if row.closed else ')'}"


def loss(curves: list[LossCurve]) -> bytes:
    """One panel per run, curriculum stages shaded."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 3.4), squeeze=False)
    for ax, curve in zip(axes[0], curves, strict=True):
        marker = "o" if len(curve.steps) <= 30 else None
        ax.plot(curve.steps, curve.loss, marker=marker, ms=3, lw=1.2)
        for i, (name, lo, hi) in enumerate(_spans(curve)):
            ax.axvspan(lo - 0.5, hi + 0.5, color=f"C{i % 10}", alpha=0.08)
            ax.text((lo + hi) / 2, 0.97, name, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8)  # fmt: skip
        ax.set_title(f"{curve.name}: loss per trained token")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    return _png(fig)


def _spans(curve: LossCurve) -> list[tuple[str, int, int]]:
    spans: list[tuple[str, int, int]] = []
    for step, name in zip(curve.steps, curve.stage_names, strict=True):
        if spans and spans[-1][0] == name:
            spans[-1] = (name, spans[-1][1], step)
        else:
            spans.append((name, step, step))
    return spans


def masking(section: MaskingSection) -> bytes:
    rules = list(section.by_rule)
    return _hbar(
        rules,
        [round(100 * section.fraction(r), 2) for r in rules],
        f"Masked assistant turns per rule ({section.masked_turns}/{section.turns} masked)",
        "% of assistant turns",
    )


def tts(result: TTSResult) -> bytes:
    fig, ax = _figure(6.5, 3.6)
    ks = [p.k for p in result.points]
    ax.plot(ks, [p.resolved_rate for p in result.points], marker="o", label="TTS@K (verifier)")
    oracle = [(p.k, p.oracle_rate) for p in result.points if p.oracle_rate is not None]
    if oracle:
        ax.plot(*zip(*oracle, strict=True), marker="s", ls="--", label="Pass@K (oracle)")
    ax.axhline(result.pass_at_1, color="grey", ls=":", label=f"Pass@1 = {result.pass_at_1:.2f}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("K (candidates per task)")
    ax.set_ylabel("resolved rate")
    ax.set_title(f"Test-time scaling on {result.tasks} tasks")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def ablation(result: AblationResult) -> bytes:
    return _hbar(
        [a.arm for a in result.arms],
        [round(a.heldout_loss, 3) for a in result.arms],
        "Held-out loss on the resolved steps, per arm (lower is better)",
        "cross-entropy per token",
    )


def timings(stages: list[StageTiming]) -> bytes:
    labels = [f"{t.stage}{' (reused)' if t.reused else ''}" for t in stages]
    return _hbar(labels, [round(t.seconds, 1) for t in stages], "Wall time per stage", "seconds")
