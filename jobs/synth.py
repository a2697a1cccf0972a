"""Ray job: synthesize validated tasks from repositories (AST bugs, history, pull requests).

    ray job submit --address http://HEAD:8265 --runtime-env jobs/runtime_env.yaml \
        -- python jobs/synth.py --config jobs/configs/synth.yaml \
           out=s3://BUCKET/runs/synth 'repos=[{path: /data/repos/acme__calc}]'

Writes OUT/tasks.jsonl, OUT/tasks.parquet and OUT/funnel.json. Exit 3 when candidates
were dropped for infrastructure reasons (recorded; a rerun retries them and reuses every
finished validation).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    from swelego_ray.grading import is_infra_failure
    from swelego_ray.jobs import load_config, run_job
    from swelego_ray.synth import SynthConfig, run_synthesis

    return run_job(
        "synth",
        lambda path, overrides: load_config(SynthConfig, path, overrides),
        run_synthesis,
        argv,
        description=__doc__,
        failing=is_infra_failure,
    )


if __name__ == "__main__":
    sys.exit(main())
