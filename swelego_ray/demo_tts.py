"""The demo's test-time scaling stage: serve the fine-tuned policy and the verifier on
Ray Serve (the TTS app), check that the served policy answers and drives rollouts whose
patches are graded hack-free, then measure TTS@k against Pass@1 on sample tasks with the
replay teacher playing (the tiny policy cannot solve tasks; the verifier and the
execution signals choose). Reused when its inputs did not change.

Writes `tts/served-policy.json` and `tts/replay.json` (swelego_ray.serve.client's
TTSEvaluation), and `tts.json` (the report's TTS record).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from swelego_ray.serve.client import TTSEvaluation


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.is_dir():
            for f in sorted(p for p in part.rglob("*") if p.is_file()):
                h.update(f.name.encode() + f.read_bytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


def pick_tasks(tasks_file: Path, n: int) -> list[str]:
    """`n` instance ids, taking each repository's tasks in turn."""
    from swelego_ray.schema import read_tasks

    by_repo: dict[str, list[str]] = {}
    for task in read_tasks(tasks_file):
        by_repo.setdefault(task.repo, []).append(task.instance_id)
    picked: list[str] = []
    while len(picked) < n and any(by_repo.values()):
        for ids in by_repo.values():
            if ids and len(picked) < n:
                picked.append(ids.pop(0))
    return picked


def run_tts_stage(cfg: Any, work: Path, repos: Path, policy: str, verifier: str, say: Any) -> dict:
    """Serve, measure, stop; the stage's summary."""
    from swelego_ray.llm.local_server import free_port
    from swelego_ray.samples import sample_tasks_path
    from swelego_ray.serve import ServeConfig

    out = work / "tts"
    tasks = pick_tasks(sample_tasks_path(), cfg.tts_tasks)
    knobs = [cfg.tts_k, cfg.tts_max_turns, cfg.tts_mistake_rate, tasks]
    digest = _digest(Path(policy), Path(verifier), *knobs)
    done = out / "demo-summary.json"
    if done.is_file() and json.loads(done.read_text()).get("inputs_sha256") == digest:
        say("  (reused: the same models and settings were measured by an earlier run)")
        return json.loads(done.read_text())
    config = ServeConfig(
        policy={"model": policy, "max_model_len": 4096},
        verifier={"model": verifier, "cpus": 0.5},
        tts={
            "tasks": [str(sample_tasks_path())],
            "repos_dir": str(repos),
            "cache_root": cfg.cache_root,
            "allow_replay": True,
            "k_default": cfg.tts_k,
            "k_max": max(cfg.tts_k, 2),
            "max_turns": cfg.tts_max_turns,
            "replay": {"mistake_rate": cfg.tts_mistake_rate},
            "sampling": {"max_tokens": 48, "temperature": 1.0},
            "cpus_per_item": 0.25,
            "progress": False,
        },
        http={"port": free_port()},
    )
    started = time.time()
    summary = asyncio.run(_measure(config, tasks, cfg, say))
    out.mkdir(parents=True, exist_ok=True)
    stamps = {"stage": "tts", "started_at": started, "finished_at": time.time()}
    (out / "run.json").write_text(json.dumps(stamps))  # the report's timings
    _write_report_record(work / "tts.json", summary["replay"], cfg, policy, verifier)
    for name in ("served-policy", "replay"):
        evaluation: TTSEvaluation = summary.pop(name)
        (out / f"{name}.json").write_text(json.dumps(evaluation.model_dump(mode="json")))
        summary[name] = _brief(evaluation)
    summary["inputs_sha256"] = digest
    done.write_text(json.dumps(summary, indent=1))
    return summary


async def _measure(config: Any, tasks: list[str], cfg: Any, say: Any) -> dict:
    import openai

    from swelego_ray.serve.client import TTSClient, evaluate_tts
    from swelego_ray.serve.server import RunningApp

    with RunningApp(config) as app:
        say(f"  serving at {app.base_url} (ready in {app.startup_s:.0f} s)")
        chat = openai.AsyncOpenAI(base_url=f"{app.base_url}/v1", api_key="EMPTY")
        reply = await chat.chat.completions.create(
            model=config.policy.model_id,
            messages=[{"role": "user", "content": "Which file holds the bug?"}],
            max_tokens=16,
        )
        await chat.close()
        client = TTSClient(app.base_url)
        try:
            say(f"  the served policy drives 2 rollouts on {tasks[0]} (graded hack-free)")
            served = await evaluate_tts(
                client, tasks[:1], k=2, max_turns=3, teacher="policy", seed=0
            )
            say(f"  TTS@k on {len(tasks)} tasks, K={cfg.tts_k}, replay teacher")
            replay = await evaluate_tts(
                client,
                tasks,
                k=cfg.tts_k,
                max_turns=cfg.tts_max_turns,
                teacher="replay",
                on_done=lambda i, r: say(f"    {i}: {'done' if r else 'FAILED'}"),
            )
        finally:
            await client.aclose()
        startup = app.startup_s
    failed = {**served.failed, **replay.failed}
    return {
        "startup_s": round(startup or 0.0, 1),
        "chat": {"tokens": reply.usage.completion_tokens, "text": reply.choices[0].message.content},
        "served-policy": served,
        "replay": replay,
        "failed": failed,
    }


def _brief(evaluation: TTSEvaluation) -> dict:
    curve = evaluation.curve
    return {
        "tasks": curve.tasks if curve else 0,
        "pass_at_1": curve.pass_at_1 if curve else None,
        "tts_at_k": {str(k): v for k, v in zip(curve.k, curve.tts_at_k, strict=True)}
        if curve
        else {},
        "pass_at_k": {str(k): v for k, v in zip(curve.k, curve.pass_at_k, strict=True)}
        if curve
        else {},
        "wall_s": evaluation.wall_s,
        "failed": evaluation.failed,
    }


def _write_report_record(
    path: Path, replay: TTSEvaluation, cfg: Any, policy: str, verifier: str
) -> None:
    """The report's TTS record, from the replay-teacher curve."""
    from swelego_ray.report import TTSResult

    if replay.curve is None:
        return
    record = TTSResult.from_curve(
        replay.curve,
        policy=policy,
        verifier=verifier,
        rollouts_by=(
            f"the replay teacher (mistake rate {cfg.tts_mistake_rate}, "
            f"{cfg.tts_max_turns} turns; the served policy's own run: tts/served-policy.json)"
        ),
    )
    path.write_text(record.model_dump_json(indent=1))
