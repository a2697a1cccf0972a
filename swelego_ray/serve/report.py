"""Console tables and files of TTS results (`swelego tts`, the demo's report)."""

from __future__ import annotations

import json
from pathlib import Path

from swelego_ray.serve.client import TTSEvaluation
from swelego_ray.serve.records import TTSResponse


def candidates_table(response: TTSResponse) -> str:
    """One line per candidate, the chosen one marked."""
    lines = [
        f"{response.instance_id}: k={response.k}, max_turns={response.max_turns}, "
        f"chosen={response.chosen}, {response.timings.total_s:.1f} s"
        + (" (stopped early)" if response.stopped_early else ""),
        f"  {'':1} {'#':>2} {'score':>7} {'end':<16} {'turns':>5} {'patch':>6} {'label':<14} error",
    ]
    for c in response.candidates:
        mark = "*" if c.attempt == response.chosen else " "
        score = f"{c.score:.4f}" if c.score is not None else "-"
        lines.append(
            f"  {mark} {c.attempt:>2} {score:>7} {(c.end_reason or '-'):<16} {c.turns:>5} "
            f"{len(c.patch.splitlines()):>6} {(c.label or '-'):<14} {c.error[:60]}"
        )
    return "\n".join(lines)


def curve_table(result: TTSEvaluation) -> str:
    """TTS@k, Pass@k and Pass@1 as a Markdown table (and the failed tasks)."""
    lines = []
    curve = result.curve
    if curve is None:
        lines.append("no task was graded")
    else:
        lines += [
            f"TTS over {curve.tasks} tasks (selection: {curve.selection}); "
            f"Pass@1 = {curve.pass_at_1:.3f}",
            "",
            "| k | TTS@k | Pass@k (oracle) |",
            "|---|---|---|",
        ]
        for k, tts, oracle in zip(curve.k, curve.tts_at_k, curve.pass_at_k, strict=True):
            lines.append(f"| {k} | {tts:.3f} | {oracle:.3f} |")
    for instance_id, reason in result.failed.items():
        lines.append(f"failed: {instance_id}: {reason}")
    return "\n".join(lines)


def write_tts(result: TTSEvaluation, out: Path) -> list[Path]:
    """tts.json (the whole evaluation) and tts.md (the table)."""
    out.mkdir(parents=True, exist_ok=True)
    data = out / "tts.json"
    data.write_text(json.dumps(result.model_dump(mode="json"), indent=1))
    table = out / "tts.md"
    table.write_text(curve_table(result) + "\n")
    return [data, table]
