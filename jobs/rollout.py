"""Ray job: agent rollouts on validated tasks, judged, labelled, exported for SFT.

    ray job submit --address http://HEAD:8265 --runtime-env jobs/runtime_env.yaml \
        -- python jobs/rollout.py --config jobs/configs/rollout.yaml \
           tasks=s3://BUCKET/runs/synth/tasks.jsonl out=s3://BUCKET/runs/rollout

Writes OUT/trajectories.jsonl (every episode), OUT/sft.jsonl and OUT/sharegpt.jsonl (the
kept ones: resolved or semi-resolved, no git hacking) and OUT/rollout.json. Exit 3 when
episodes failed for infrastructure reasons (recorded; a rerun retries them and reuses
every finished episode).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    from swelego_ray.jobs import engine_failures, load_config, run_job
    from swelego_ray.rollout import RolloutConfig, run_rollouts

    return run_job(
        "rollout",
        lambda path, overrides: load_config(RolloutConfig, path, overrides),
        run_rollouts,
        argv,
        description=__doc__,
        failing=lambda reason: engine_failures(reason) or reason in ("env_build", "label_error"),
    )


if __name__ == "__main__":
    sys.exit(main())
