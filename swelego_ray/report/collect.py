"""Read what a `swelego demo` run left in its directory into a `ReportData`.

Each section reads the files its stage writes (the layout of swelego_ray.demo):
- funnels: every `validation.json`, `report.json` (evaluate, SFT data), `rollout.json`
  and `funnel.json` (synth, or any stage writing a Funnel) up to three levels down;
- provenance: `rollout-tasks.jsonl`, else `validate/tasks.jsonl` + `synth/tasks.jsonl`;
  synthesis per strategy (candidates, written, drops): `synth/funnel.json`;
- curriculum, masking: the policy SFT run's `data/<hash>/report.json`; steps per stage
  and loss curves: every `metrics.jsonl` up to two levels down;
- labels: `rollout/rollout.json`; TTS: `tts.json`; learning signal:
  `ablate/ablation.json` (`swelego ablate --out RUN/ablate`); timings: `timings.json`, else the
  stages' own `started_at` / `finished_at` stamps.
A missing file leaves its section empty ("not run"); a file that exists but cannot be read
is named in `problems`, and the report goes on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swelego_ray.ablate.records import AblationResult
from swelego_ray.report.records import (
    ABLATION_FILE,
    TIMINGS_FILE,
    TTS_FILE,
    BucketRow,
    FunnelRow,
    LossCurve,
    MaskingSection,
    ReportData,
    StageTiming,
    Timings,
    TTSResult,
)

_FUNNEL_FILES = ("validation.json", "report.json", "rollout.json", "funnel.json")
_HASH = re.compile(r"^[0-9a-f]{12,}$")
_STAGE_LINE = re.compile(
    r"stage \d+ (?P<name>\S+?)(?: \[(?P<low>[^,]+), (?P<high>[^)\]]+)(?P<close>[)\]]))?: "
    r"(?P<examples>\d+) examples x (?P<epochs>\d+) epochs"
)


class _Reader:
    """JSON reads that record, rather than raise, what cannot be read."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.problems: list[str] = []

    def json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problem = f"{self.rel(path)}: unreadable ({exc})"
            if problem not in self.problems:
                self.problems.append(problem)
            return None

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.run_dir))

    def label(self, path: Path) -> str:
        """The stage a file belongs to: its directory, content hashes left out."""
        parts = [p for p in path.parent.relative_to(self.run_dir).parts if not _HASH.match(p)]
        return "/".join(parts) or "."


def collect(run_dir: Path) -> ReportData:
    """Everything the report shows, read from `run_dir`. Never raises on missing or odd
    input: a section whose files cannot be read is left empty and the reason recorded."""
    reader = _Reader(run_dir)
    data = ReportData(run_dir=str(run_dir))
    if not run_dir.is_dir():
        data.problems.append(f"{run_dir}: no such directory")
        return data
    sections: dict[str, Callable[[], None]] = {
        "funnels": lambda: setattr(data, "funnels", _funnels(reader)),
        "provenance": lambda: setattr(data, "provenance", _provenance(reader)),
        "synthesis": lambda: setattr(data, "synthesis", _synthesis(reader)),
        "SFT data (masking, curriculum)": lambda: _sft_data(reader, data),
        "loss curves": lambda: setattr(data, "loss", _loss_curves(reader)),
        "labels": lambda: setattr(data, "labels", _labels(reader)),
        "evaluations": lambda: setattr(data, "evaluations", _evaluations(reader)),
        "TTS": lambda: setattr(data, "tts", _typed(reader, run_dir / TTS_FILE, TTSResult)),
        "ablation": lambda: setattr(
            data, "ablation", _typed(reader, run_dir / ABLATION_FILE, AblationResult)
        ),
        "timings": lambda: setattr(data, "timings", _timings(reader)),
    }
    for name, read in sections.items():
        try:
            read()
        except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
            reader.problems.append(f"{name}: unexpected content ({type(exc).__name__}: {exc})")
    data.problems = reader.problems
    return data


def _sft_data(reader: _Reader, data: ReportData) -> None:
    policy_data = _policy_data_report(reader)
    if policy_data is not None:
        path, report = policy_data
        data.masking = _masking(report.get("masking") or {})
        data.curriculum, data.curriculum_text = _curriculum(reader, path, report)


def _timings(reader: _Reader) -> list[StageTiming]:
    timings = _typed(reader, reader.run_dir / TIMINGS_FILE, Timings)
    return timings.stages if timings else _stamped_timings(reader)


def _files(run_dir: Path, names: tuple[str, ...], depth: int) -> list[Path]:
    """Files named `names` from 1 to `depth` directories below `run_dir`, oldest first."""
    found = [
        p
        for level in range(1, depth + 1)
        for name in names
        for p in run_dir.glob("/".join(["*"] * level + [name]))
    ]
    return sorted(set(found), key=lambda p: (p.stat().st_mtime, str(p)))


def _typed(reader: _Reader, path: Path, model: type) -> Any:
    if not path.is_file():
        return None
    raw = reader.json(path)
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        reader.problems.append(f"{reader.rel(path)}: not a {model.__name__} ({exc})")
        return None


# -- funnels ---------------------------------------------------------------------------


def _funnels(reader: _Reader) -> list[FunnelRow]:
    rows = []
    for path in _files(reader.run_dir, _FUNNEL_FILES, 3):
        raw = reader.json(path)
        try:
            row = _funnel_row(reader.label(path), raw) if isinstance(raw, dict) else None
        except (ValueError, TypeError, AttributeError) as exc:
            reader.problems.append(f"{reader.rel(path)}: not a funnel ({exc})")
            continue
        if row is not None:
            rows.append(row)
    return rows


def _funnel_row(label: str, raw: dict[str, Any]) -> FunnelRow | None:
    """A Funnel.as_dict (maybe under `funnel`), or synth's staged counts (`total`)."""
    if isinstance(raw.get("funnel"), dict):
        raw = raw["funnel"]
    if "in" in raw and "out" in raw:
        return FunnelRow(
            stage=label,
            seen=int(raw["in"]),
            kept=int(raw["out"]),
            reused=int(raw.get("reused_from_earlier_run", 0)),
            dropped={str(k): int(v) for k, v in (raw.get("dropped") or {}).items()},
        )
    total, stages = raw.get("total"), raw.get("stages")
    if isinstance(total, dict) and isinstance(stages, list) and stages:
        return FunnelRow(
            stage=label,
            seen=int(total.get(stages[0], 0)),
            kept=int(total.get(stages[-1], 0)),
            reused=int(raw.get("reused_from_earlier_run", 0)),
            dropped={str(k): int(v) for k, v in (total.get("dropped") or {}).items()},
        )
    return None


# -- tasks, labels, evaluations ---------------------------------------------------------


def _provenance(reader: _Reader) -> dict[str, int] | None:
    run = reader.run_dir
    files = [run / "rollout-tasks.jsonl"]
    if not files[0].is_file():
        files = [run / "validate" / "tasks.jsonl", run / "synth" / "tasks.jsonl"]
    seen: dict[str, str] = {}
    for path in (f for f in files if f.is_file()):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                task = json.loads(line)
                seen[str(task["instance_id"])] = str(task.get("provenance") or "real")
            except (ValueError, KeyError, TypeError) as exc:
                reader.problems.append(f"{reader.rel(path)}:{n}: not a task ({exc!r})")
    return dict(Counter(seen.values()).most_common()) if seen else None


def _synthesis(reader: _Reader) -> list[FunnelRow]:
    """One row per synthesis strategy: candidates -> written, drops by reason."""
    path = reader.run_dir / "synth" / "funnel.json"
    raw = reader.json(path) if path.is_file() else None
    stages = raw.get("stages") if isinstance(raw, dict) else None
    by_strategy = raw.get("by_strategy") if isinstance(raw, dict) else None
    if not isinstance(by_strategy, dict) or not isinstance(stages, list) or not stages:
        return []
    return [
        FunnelRow(
            stage=str(strategy),
            seen=int(row.get(stages[0], 0)),
            kept=int(row.get(stages[-1], 0)),
            dropped={str(k): int(v) for k, v in (row.get("dropped") or {}).items()},
            notes={str(k): int(v) for k, v in (row.get("notes") or {}).items()},
        )
        for strategy, row in by_strategy.items()
    ]


def _labels(reader: _Reader) -> dict[str, int] | None:
    path = reader.run_dir / "rollout" / "rollout.json"
    raw = reader.json(path) if path.is_file() else None
    if not isinstance(raw, dict) or not isinstance(raw.get("labels"), dict):
        return None
    return {str(k): int(v) for k, v in raw["labels"].items()}


_EVAL_COUNTS = ("resolved", "unresolved", "empty_patch", "error")


def _evaluations(reader: _Reader) -> dict[str, dict[str, int]]:
    out = {}
    for path in sorted((reader.run_dir / "evaluate").glob("*/report.json")):
        raw = reader.json(path)
        if isinstance(raw, dict) and "total_instances" in raw:
            counts = {"tasks": int(raw["total_instances"])}
            counts |= {k: int(raw.get(f"{k}_instances", 0)) for k in _EVAL_COUNTS}
            out[path.parent.name] = counts
    return out


# -- SFT: masking, curriculum, loss -------------------------------------------------------


def _policy_data_report(reader: _Reader) -> tuple[Path, dict[str, Any]] | None:
    """The newest SFT data report with masking figures (a policy run, not a verifier's)."""
    found = None
    for path in _files(reader.run_dir, ("report.json",), 4):
        if path.parent.parent.name != "data":
            continue
        raw = reader.json(path)
        if isinstance(raw, dict) and raw.get("masking"):
            found = (path, raw)
    return found


def _masking(raw: dict[str, Any]) -> MaskingSection | None:
    datasets = raw.get("datasets") or {}
    if not datasets:
        return None
    by_rule: Counter[str] = Counter()
    for row in datasets.values():
        by_rule.update({str(k): int(v) for k, v in (row.get("by_rule") or {}).items()})
    return MaskingSection(
        turns=sum(int(r.get("turns", 0)) for r in datasets.values()),
        masked_turns=sum(int(r.get("masked", 0)) for r in datasets.values()),
        masked_token_fraction=raw.get("masked_token_fraction"),
        by_rule=dict(by_rule.most_common()),
    )


def _curriculum(
    reader: _Reader, path: Path, report: dict[str, Any]
) -> tuple[list[BucketRow] | None, str | None]:
    """The schedule's stages (from the data report's text) with the steps each took."""
    text = str(report.get("curriculum") or "")
    rows = []
    for m in _STAGE_LINE.finditer(text):
        rows.append(
            BucketRow(
                name=m["name"],
                low=float(m["low"]) if m["low"] else None,
                high=float(m["high"]) if m["high"] else None,
                closed=m["close"] == "]",
                examples=int(m["examples"]),
                epochs=int(m["epochs"]),
            )
        )
    metrics = path.parent.parent.parent / "metrics.jsonl"
    steps = Counter(r.get("stage_name") for r in _metric_rows(reader, metrics))
    for row in rows:
        row.steps = steps.get(row.name, 0)
    if len(rows) != len(re.findall(r"^\s*stage \d+ ", text, re.MULTILINE)):
        return None, text or None  # a schedule this reader does not know: shown verbatim
    return (rows or None), (None if rows else text or None)


def _metric_rows(reader: _Reader, path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl (last row wins for a repeated step)."""
    if not path.is_file():
        return []
    rows: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows[int(row["step"])] = row
        except (ValueError, KeyError, TypeError) as exc:
            reader.problems.append(f"{reader.rel(path)}:{n}: not a metrics row ({exc!r})")
    return [rows[s] for s in sorted(rows)]


def _loss_curves(reader: _Reader) -> list[LossCurve]:
    curves = []
    for path in _files(reader.run_dir, ("metrics.jsonl",), 2):
        rows = [r for r in _metric_rows(reader, path) if isinstance(r.get("loss"), int | float)]
        if rows:
            curves.append(
                LossCurve(
                    name=reader.label(path),
                    steps=[int(r["step"]) for r in rows],
                    loss=[float(r["loss"]) for r in rows],
                    stage_names=[str(r.get("stage_name", "")) for r in rows],
                )
            )
    return curves


# -- timings --------------------------------------------------------------------------


def _reused(stamped: dict) -> bool:
    """The stage's run only reused an earlier run's results (its funnel says so)."""
    funnel = stamped.get("funnel", stamped)
    if not isinstance(funnel, dict):
        return False
    seen, reused = funnel.get("in"), funnel.get("reused_from_earlier_run")
    return isinstance(seen, int) and seen > 0 and reused == seen


_STAMPED = ("validation.json", "run.json", "funnel.json")


def _stamped_timings(reader: _Reader) -> list[StageTiming]:
    """Per-stage wall time from the stages' own stamps; SFT from its step windows."""
    timed: list[tuple[float, StageTiming]] = []
    for path in _files(reader.run_dir, _STAMPED, 2):
        raw = reader.json(path)
        if isinstance(raw, dict) and {"started_at", "finished_at"} <= raw.keys():
            start, end = float(raw["started_at"]), float(raw["finished_at"])
            seconds = max(0.0, end - start)
            stage = StageTiming(stage=reader.label(path), seconds=seconds, reused=_reused(raw))
            timed.append((start, stage))
    for path in _files(reader.run_dir, ("metrics.jsonl",), 2):
        rows = _metric_rows(reader, path)
        seconds = sum(float(r.get("window_s") or 0) for r in rows)
        if rows:
            stage = f"{reader.label(path)} (training steps)"
            timed.append(
                (path.stat().st_mtime - seconds, StageTiming(stage=stage, seconds=seconds))
            )
    labels = {t.stage for _, t in timed}
    nested = {s for s in labels if any(s.startswith(f"{o}/") for o in labels)}  # in a stage
    return [t for _, t in sorted(timed, key=lambda x: x[0]) if t.stage not in nested]
