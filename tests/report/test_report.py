"""The run report: sections from a small run directory written here, "not run" for
missing stages, and the page in a real (headless Chromium) browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swelego_ray.ablate import AblationResult, ArmScores
from swelego_ray.report import TTSPoint, TTSResult, write_report
from swelego_ray.report.collect import collect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _funnel(stage: str, seen: int, kept: int, **dropped: int) -> dict:
    return {"stage": stage, "in": seen, "out": kept, "reused_from_earlier_run": 0,
            "dropped": dropped}  # fmt: skip


def _write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def _small_run(run: Path) -> Path:
    """The files a demo run writes, a few items each."""
    _write(run / "validate/validation.json",
           {"funnel": _funnel("validate", 3, 2, flaky=1), "started_at": 100.0,
            "finished_at": 130.0})  # fmt: skip
    _write(run / "evaluate/gold/report.json",
           {"total_instances": 2, "resolved_instances": 2, "unresolved_instances": 0,
            "empty_patch_instances": 0, "error_instances": 0,
            "funnel": _funnel("evaluate", 2, 2)})  # fmt: skip
    reused = _funnel("evaluate", 2, 2) | {"reused_from_earlier_run": 2}
    _write(run / "evaluate/gold/run.json",
           {"started_at": 150.0, "finished_at": 150.5, "funnel": reused})  # fmt: skip
    _write(run / "synth/funnel.json",
           {"stages": ["candidates", "validated", "written"],
            "total": {"candidates": 5, "validated": 2, "written": 1, "dropped": {"no_site": 4}},
            "by_strategy": {
                "ast": {"candidates": 3, "validated": 2, "written": 1, "dropped": {"no_site": 2}},
                "llm": {"candidates": 2, "validated": 0, "written": 0, "dropped": {"no_code": 2},
                        "notes": {"statement_failed:garbled->template": 1}}},
            "reused_from_earlier_run": 0, "started_at": 130.0, "finished_at": 150.0})  # fmt: skip
    tasks = [{"instance_id": "a", "provenance": "real"}, {"instance_id": "b"},
             {"instance_id": "c", "provenance": "ast"}]  # fmt: skip
    _write(run / "rollout-tasks.jsonl", "".join(json.dumps(t) + "\n" for t in tasks))
    rollout = {"labels": {"resolved": 2, "semi_resolved": 1}, "funnel": _funnel("rollout", 3, 3)}
    _write(run / "rollout/rollout.json", rollout)
    _write(run / "sft/data/0123456789abcdef/report.json",
           {"funnel": _funnel("sft-data:policy", 3, 3),
            "masking": {"masked_token_fraction": 0.1,
                        "datasets": {"openai": {"trajectories": 3, "turns": 20, "masked": 3,
                                                "by_rule": {"editor_error": 2,
                                                            "command_not_found": 1}}}},
            "curriculum": "curriculum: 2 stage(s)\n  stage 0 easy [0, 8): 2 examples x 1 "
                          "epochs\n  stage 1 hard [8, 100]: 1 examples x 1 epochs"})  # fmt: skip
    rows = [{"step": s, "loss": 7.0 - s / 2, "stage_name": "easy" if s < 3 else "hard",
             "window_s": 2.0} for s in (1, 2, 3)]  # fmt: skip
    _write(run / "sft/metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    tts = TTSResult(tasks=4, pass_at_1=0.25, policy="tiny", verifier="tiny-verifier",
                    points=[TTSPoint(k=1, resolved_rate=0.25, oracle_rate=0.25),
                            TTSPoint(k=4, resolved_rate=0.5, oracle_rate=0.75)])  # fmt: skip
    _write(run / "tts.json", tts.model_dump_json())
    arms = [ArmScores(arm=name, heldout_loss=loss, heldout_tokens=50, sampled_turns=4,
                      valid_call_rate=0.25, agreement_turns=3, tool_agreement=0.5, file_turns=0,
                      file_agreement=None, mistake_positions=1, mistake_reproduction=0.0,
                      correction_followed=0.0, mistake_preference=1.0)
            for name, loss in (("untrained", 6.9), ("mask-on_curr-on", 5.1))]  # fmt: skip
    ablation = AblationResult(trajectories="t.jsonl", train_trajectories=3, train_tasks=3,
                              heldout_trajectories=1, heldout_tasks=1, masked_train_turns={},
                              settings={}, arms=arms)  # fmt: skip
    _write(run / "ablate/ablation.json", ablation.model_dump_json())
    _write(run / "evaluate/broken/report.json", "{not json")
    _write(run / "odd/funnel.json", {"in": "many", "out": 1})  # a Funnel shape, bad value
    return run


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> Path:
    run = _small_run(tmp_path_factory.mktemp("run"))
    write_report(run)
    return run


def test_sections_from_a_small_run(small_report: Path) -> None:
    data = collect(small_report)
    funnels = {f.stage: (f.seen, f.kept, f.dropped) for f in data.funnels}
    assert funnels["validate"] == (3, 2, {"flaky": 1})
    assert funnels["synth"] == (5, 1, {"no_site": 4})
    assert funnels["sft/data"] == (3, 3, {})  # the content hash is left out of the name
    assert data.provenance == {"real": 2, "ast": 1}
    assert [(r.stage, r.seen, r.kept, r.dropped) for r in data.synthesis] == [
        ("ast", 3, 1, {"no_site": 2}), ("llm", 2, 0, {"no_code": 2}),
    ]  # fmt: skip
    assert [(b.name, b.low, b.high, b.examples, b.steps) for b in data.curriculum or []] == [
        ("easy", 0, 8, 2, 2),
        ("hard", 8, 100, 1, 1),  # the last bucket is closed: [8, 100]
    ]
    assert data.masking is not None and data.masking.fraction("editor_error") == 0.1
    assert data.labels == {"resolved": 2, "semi_resolved": 1}
    assert data.loss[0].loss == [6.5, 6.0, 5.5]
    # a stage that only reused an earlier run's results says so
    assert [(t.stage, t.seconds, t.reused) for t in data.timings] == [
        ("validate", 30.0, False), ("synth", 20.0, False), ("evaluate/gold", 0.5, True),
        ("sft (training steps)", 6.0, False),
    ]  # fmt: skip
    assert data.tts is not None and data.tts.points[1].resolved_rate == 0.5
    assert data.ablation is not None and data.ablation.arms[1].heldout_loss == 5.1
    assert any("evaluate/broken/report.json: unreadable" in p for p in data.problems)
    assert any(p.startswith("odd/funnel.json: not a funnel") for p in data.problems)
    md = (small_report / "report.md").read_text()
    assert "| editor_error | 2 | 10.0 % |" in md and "not run" not in md
    assert "| hard | [8, 100] | 1 | 1 | 1 |" in md
    assert "llm: 2 -> 0; dropped no_code: 2; statement_failed:garbled->template: 1." in md
    assert (small_report / "report-figures" / "tts.png").stat().st_size > 0


def test_missing_stages_say_not_run(tmp_path: Path) -> None:
    _write(tmp_path / "rollout/rollout.json", {"labels": {"resolved": 1}})
    paths = write_report(tmp_path)
    md = paths.markdown.read_text()
    assert md.count("not run") == 8  # every section but the labels
    assert "| resolved | 1 | 100.0 % |" in md
    assert "not run (tts.json not found" in paths.html.read_text()


def test_report_renders_in_chromium(small_report: Path, tmp_path: Path) -> None:
    """Headless Chromium loads the page from file://: every image decodes, no console
    error; the screenshot stays in the test's tmp dir."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: scripts/setup.sh installs chromium"
    errors: list[str] = []
    shot = tmp_path / "report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((small_report / "report.html").as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])"
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert len(images) == 9, images  # one figure per section, all present in this run
    assert all(complete and width > 0 for _, complete, width in images), images
    assert errors == []
    assert shot.stat().st_size > 10_000
