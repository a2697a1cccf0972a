"""Ray job: hack-free evaluation of predictions on tasks (swelego_ray.evaluate).

    ray job submit --address http://HEAD:8265 --runtime-env jobs/runtime_env.yaml \
        -- python jobs/evaluate.py --config jobs/configs/evaluate.yaml \
           tasks=s3://BUCKET/tasks.parquet out=s3://BUCKET/runs/eval

Finished instances are reused on a rerun. Exit 3 when instances ended in infrastructure
errors (lost workers, timeouts, failed builds): resubmit to run the lost ones again
(add rerun_errors=true to retry the errors that were stored too).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    from swelego_ray.evaluate import EvaluateConfig, run_evaluation
    from swelego_ray.grading import is_infra_failure
    from swelego_ray.jobs import load_config, run_job

    return run_job(
        "evaluate",
        lambda path, overrides: load_config(EvaluateConfig, path, overrides),
        run_evaluation,
        argv,
        description=__doc__,
        failing=is_infra_failure,  # infrastructure errors: no verdict on the instance
    )


if __name__ == "__main__":
    sys.exit(main())
