"""The report as a list of sections (title, text, table, figure), independent of the format.

A section whose input is missing says "not run" and carries no figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from swelego_ray.ablate.records import table as ablation_table
from swelego_ray.report import plots
from swelego_ray.report.records import BucketRow, ReportData

NOT_RUN = "not run"


@dataclass
class Section:
    slug: str
    title: str
    text: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    figure: bytes | None = None
    figure_alt: str = ""


def build_sections(data: ReportData) -> list[Section]:
    builders: list[Callable[[ReportData], Section]] = [
        _funnels, _provenance, _curriculum, _loss, _masking, _labels, _tts, _ablation,
        _timings,
    ]  # fmt: skip
    return [build(data) for build in builders]


def _not_run(slug: str, title: str, what: str) -> Section:
    return Section(slug, title, text=[f"{NOT_RUN} ({what} not found in the run directory)."])


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _funnels(data: ReportData) -> Section:
    title = "Funnels per stage"
    if not data.funnels:
        return _not_run("funnels", title, "no stage funnel")
    rows = [
        [f.stage, str(f.seen), str(f.kept), str(f.reused),
         ", ".join(f"{k}: {v}" for k, v in f.dropped.items()) or "-"]
        for f in data.funnels
    ]  # fmt: skip
    section = Section(
        "funnels",
        title,
        text=[
            "Items in and out of each stage, in the order the stages ran; every drop "
            "has its reason."
        ],
        header=["stage", "in", "out", "reused", "dropped (reason: n)"],
        rows=rows,
        figure=plots.funnels(data.funnels),
        figure_alt="funnel per stage",
    )
    if data.evaluations:
        section.text.append(
            "Hack-free evaluations: "
            + "; ".join(
                f"{name}: {c['resolved']}/{c['tasks']} resolved"
                for name, c in data.evaluations.items()
            )
            + "."
        )
    return section


def _provenance(data: ReportData) -> Section:
    title = "Task provenance mix"
    if not data.provenance:
        return _not_run("provenance", title, "no task file")
    total = sum(data.provenance.values())
    return Section(
        "provenance",
        title,
        text=[f"{total} tasks rolled out, by where they came from.", *_synthesis_lines(data)],
        header=["provenance", "tasks", "share"],
        rows=[[k, str(v), _pct(v / total)] for k, v in data.provenance.items()],
        figure=plots.counts(data.provenance, "Tasks by provenance"),
        figure_alt="tasks by provenance",
    )


def _synthesis_lines(data: ReportData) -> list[str]:
    """Synthesis per strategy: candidates -> tasks written, and why the others were not."""
    if not data.synthesis:
        return []
    lines = [
        "Synthesis per strategy (candidates -> tasks written; dropped by reason; statements "
        "rejected and replaced by the fallback writer's):"
    ]
    for row in data.synthesis:
        drops = ", ".join(f"{k}: {v}" for k, v in row.dropped.items()) or "none"
        notes = "".join(f"; {k}: {v}" for k, v in row.notes.items())
        lines.append(f"{row.stage}: {row.seen} -> {row.kept}; dropped {drops}{notes}.")
    return lines


def _curriculum(data: ReportData) -> Section:
    title = "Curriculum buckets"
    if data.curriculum:
        return Section(
            "curriculum",
            title,
            text=[
                "Stages of the SFT curriculum in training order (difficulty: assistant turns, or "
                "tokens when the run says so)."
            ],
            header=["stage", "range", "examples", "epochs", "optimizer steps"],
            rows=[
                [
                    r.name,
                    _range(r),
                    str(r.examples),
                    str(r.epochs),
                    str(r.steps),
                ]
                for r in data.curriculum
            ],
            figure=plots.curriculum(data.curriculum),
            figure_alt="curriculum stages",
        )
    if data.curriculum_text:
        return Section("curriculum", title, text=[data.curriculum_text])
    return _not_run("curriculum", title, "no SFT data report")


def _range(row: BucketRow) -> str:
    if row.low is None or row.high is None:
        return "-"
    return f"[{row.low:g}, {row.high:g}{']' if row.closed else ')'}"


def _loss(data: ReportData) -> Section:
    title = "Loss curves"
    if not data.loss:
        return _not_run("loss", title, "no training metrics")
    return Section(
        "loss",
        title,
        text=[
            "Loss per trained token (error-masked turns carry none), per optimizer step; "
            "shading marks the curriculum stages."
        ],
        header=["run", "steps", "first loss", "last loss"],
        rows=[
            [c.name, str(len(c.steps)), f"{c.loss[0]:.4f}", f"{c.loss[-1]:.4f}"] for c in data.loss
        ],
        figure=plots.loss(data.loss),
        figure_alt="loss curves",
    )


def _masking(data: ReportData) -> Section:
    title = "Masked fraction per rule"
    m = data.masking
    if m is None:
        return _not_run("masking", title, "no SFT data report with masking")
    share = _pct(m.masked_turns / m.turns if m.turns else 0)
    text = [f"{m.masked_turns} of {m.turns} assistant turns masked ({share})."]
    if m.masked_token_fraction is not None:
        text.append(f"Masked share of assistant tokens: {_pct(m.masked_token_fraction)}.")
    return Section(
        "masking",
        title,
        text=text,
        header=["rule", "masked turns", "share of assistant turns"],
        rows=[[r, str(n), _pct(m.fraction(r))] for r, n in m.by_rule.items()],
        figure=plots.masking(m) if m.by_rule else None,
        figure_alt="masked fraction per rule",
    )


def _labels(data: ReportData) -> Section:
    title = "Labels"
    if not data.labels:
        return _not_run("labels", title, "no rollout report")
    total = sum(data.labels.values())
    return Section(
        "labels",
        title,
        text=[f"{total} episodes judged (resolved and semi_resolved are kept for SFT)."],
        header=["label", "episodes", "share"],
        rows=[[k, str(v), _pct(v / total if total else 0)] for k, v in data.labels.items()],
        figure=plots.counts(data.labels, "Episodes by label"),
        figure_alt="episodes by label",
    )


def _tts(data: ReportData) -> Section:
    title = "TTS@K"
    t = data.tts
    if t is None or not t.points:
        return _not_run("tts", title, "tts.json")
    text = [f"Rollouts by {t.rollouts_by or t.policy or '?'}; served policy {t.policy or '?'}; "
            f"verifier {t.verifier or '?'}; selection {t.selection or '?'}; {t.tasks} tasks, "
            f"graded {'hack-free' if t.hack_free else 'WITHOUT the hack-free checks'}; "
            f"Pass@1 {t.pass_at_1:.3f}."]  # fmt: skip
    return Section(
        "tts",
        title,
        text=text,
        header=["K", "TTS@K (chosen candidate)", "Pass@K (oracle)"],
        rows=[
            [
                str(p.k),
                f"{p.resolved_rate:.3f}",
                "-" if p.oracle_rate is None else f"{p.oracle_rate:.3f}",
            ]
            for p in t.points
        ],
        figure=plots.tts(t),
        figure_alt="TTS@K curve",
    )


def _ablation(data: ReportData) -> Section:
    title = "Learning signal (ablation)"
    a = data.ablation
    if a is None or not a.arms:
        return _not_run("ablation", title, "ablate/ablation.json")
    header, rows = ablation_table(a)
    return Section(
        "ablation",
        title,
        text=[
            f"{a.train_trajectories} training trajectories ({a.train_tasks} tasks), "
            f"{a.heldout_trajectories} held out ({a.heldout_tasks} other tasks).",
            f"Read with care: {a.note}",
        ],
        header=header,
        rows=rows,
        figure=plots.ablation(a),
        figure_alt="held-out loss per arm",
    )


def _timings(data: ReportData) -> Section:
    title = "Timings per stage"
    if not data.timings:
        return _not_run("timings", title, "no stage timing")
    total = sum(t.seconds for t in data.timings)
    return Section(
        "timings",
        title,
        text=[f"{total:.0f} s over the stages listed."],
        header=["stage", "seconds", "reused"],
        rows=[[t.stage, f"{t.seconds:.1f}", "yes" if t.reused else ""] for t in data.timings],
        figure=plots.timings(data.timings),
        figure_alt="wall time per stage",
    )
