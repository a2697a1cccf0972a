"""`run_ablation`: replay trajectories -> four SFT arms (masking x curriculum) on the tiny
model -> each arm and the untrained model scored on held-out tasks -> ablation.json/.md.

Resumable: an arm whose summary matches the same data and settings is not trained again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swelego_ray.ablate.config import ARMS, AblateConfig, Arm
from swelego_ray.ablate.data import Split, load_split, write_split
from swelego_ray.ablate.records import AblationResult, ArmScores, render_markdown

Echo = Callable[[str], None]


def run_ablation(cfg: AblateConfig, *, echo: Echo = print, console: Any = None) -> AblationResult:
    """Train and score the four arms; write `out`/ablation.json and ablation.md."""
    out = Path(cfg.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = Path(cfg.trajectories) if cfg.trajectories else _replay_rollouts(cfg, out, console)
    split = load_split(source, heldout_fraction=cfg.heldout_fraction,
                       observation_chars=cfg.observation_chars, seed=cfg.seed)  # fmt: skip
    train_file, _ = write_split(split, out / "data")
    masked = _masked_turns(split)
    echo(f"[ablate] {len(split.train)} training trajectories, {len(split.heldout)} held out "
         f"({len({t.instance_id for t in split.heldout})} tasks); masked training turns "
         f"{masked or 'none'}")  # fmt: skip
    base = _base_model(out / "base-model")
    from swelego_ray.ablate.score import Scorer

    scorer = Scorer(split, base, cfg)
    echo(f"[ablate] scoring on {len(scorer.sampled)} sampled held-out turns "
         f"({sum(it.mistake for it in scorer.sampled)} injected-mistake positions)")  # fmt: skip
    scores = [scorer.score(base, "untrained")]
    for n, arm in enumerate(ARMS, 1):
        echo(f"[ablate] arm {n}/{len(ARMS)}: {arm.name}")
        summary = _train_arm(cfg, arm, base, train_file, out / "arms" / arm.name, echo)
        arm_scores = scorer.score(Path(summary["model"]), arm.name)
        arm_scores.masking, arm_scores.curriculum = arm.masking, arm.curriculum
        arm_scores.train_steps = int(summary.get("steps") or 0)
        arm_scores.final_train_loss = summary.get("final_loss")
        scores.append(arm_scores)
        echo(_line(arm_scores))
    result = AblationResult(
        trajectories=str(source),
        train_trajectories=len(split.train),
        train_tasks=len({t.instance_id for t in split.train}),
        heldout_trajectories=len(split.heldout),
        heldout_tasks=len({t.instance_id for t in split.heldout}),
        masked_train_turns=masked,
        settings=cfg.model_dump(exclude={"out", "trajectories"}),
        arms=scores,
    )
    (out / "ablation.json").write_text(result.model_dump_json(indent=1))
    (out / "ablation.md").write_text(render_markdown(result))
    return result


def _line(s: ArmScores) -> str:
    return (
        f"  held-out loss {s.heldout_loss:.3f}, valid calls {s.valid_call_rate:.2f}, "
        f"tool agreement {s.tool_agreement:.2f}, prefers mistake {s.mistake_preference}"
    )


def _replay_rollouts(cfg: AblateConfig, out: Path, console: Any) -> Path:
    """The sample tasks rolled out by the replay teacher with mistakes (a rerun reuses
    finished episodes); returns the kept trajectories (sft.jsonl)."""
    from swelego_ray.rollout import RolloutConfig, run_rollouts
    from swelego_ray.samples import materialize_sample_repos, sample_tasks_path

    repos = materialize_sample_repos(out / "repos")
    run_rollouts(
        RolloutConfig(
            tasks=str(sample_tasks_path()),
            repos_dir=str(repos),
            out=str(out / "rollout"),
            teacher={"kind": "replay", "replay": {"mistake_rate": cfg.mistake_rate}},
            k=cfg.episodes_per_task,
            workers=cfg.workers,
            progress=console is not None,
        ),
        console=console,
    )
    return out / "rollout" / "sft.jsonl"


def _masked_turns(split: Split) -> dict[str, int]:
    from swelego_ray.sft import decide_masks

    rules: Counter[str] = Counter()
    for traj in split.train:
        rules.update(str(d.reason) for d in decide_masks(traj) if d.masked)
    return dict(rules.most_common())


def _base_model(path: Path) -> Path:
    """The tiny model every arm starts from (built once, seed 0)."""
    from swelego_ray.models import ensure_tiny_model

    return ensure_tiny_model(path)


def _train_arm(
    cfg: AblateConfig, arm: Arm, base: Path, train_file: Path, out: Path, echo: Echo
) -> dict[str, Any]:
    """One in-process SFT run (tiny_cpu preset, workers=0); reused when already done."""
    from swelego_ray.sft.config import load_config
    from swelego_ray.sft.train import run_sft

    overrides = [
        f"masking.enabled={str(arm.masking).lower()}",
        f"curriculum.enabled={str(arm.curriculum).lower()}",
        "curriculum.feature=tokens",
        "curriculum.bucket_percentiles=[33.3,66.7]",
        f"curriculum.epochs_per_stage={cfg.epochs}",
        f"grad_accum={cfg.grad_accum}",
        f"lr={cfg.lr}",
        f"max_length={cfg.max_length}",
        f"seed={cfg.seed}",
        "checkpoint_every=100000",
    ]
    digest = hashlib.sha256(
        json.dumps([train_file.read_text(), overrides, str(base)]).encode()
    ).hexdigest()
    done = out / "ablate-summary.json"
    if done.is_file() and json.loads(done.read_text()).get("digest") == digest:
        echo("  (reused: trained by an earlier run with the same data and settings)")
        return json.loads(done.read_text())
    config = load_config(
        "tiny_cpu", overrides, model=str(base), data=str(train_file), out=str(out), workers=0
    )
    summary = run_sft(config, echo=lambda _: None)
    kept = {k: summary.get(k) for k in ("model", "steps", "first_loss", "final_loss", "stages")}
    done.write_text(json.dumps({**kept, "digest": digest}, indent=1))
    return kept
