"""The run report: what a `swelego demo` run left in its directory, as report.md and one
self-contained report.html (funnels, provenance, curriculum, loss, masking, labels, TTS@K,
timings). `TTSResult` and `Timings` are the records the demo writes for it (tts.json,
timings.json)."""

from swelego_ray.report.records import (
    TIMINGS_FILE,
    TTS_FILE,
    ReportPaths,
    StageTiming,
    Timings,
    TTSPoint,
    TTSResult,
)
from swelego_ray.report.write import write_report

__all__ = [
    "TIMINGS_FILE",
    "TTS_FILE",
    "ReportPaths",
    "StageTiming",
    "TTSPoint",
    "TTSResult",
    "Timings",
    "write_report",
]
