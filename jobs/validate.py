"""Ray job: validate candidate tasks (FAIL_TO_PASS / PASS_TO_PASS over repeated runs).

    ray job submit --address http://HEAD:8265 --runtime-env jobs/runtime_env.yaml \
        -- python jobs/validate.py --config jobs/configs/validate.yaml \
           candidates=s3://BUCKET/candidates.jsonl out=s3://BUCKET/runs/validate

Exit 3 when candidates were dropped for infrastructure reasons (recorded with the reason;
a rerun retries them and reuses everything that finished).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    from swelego_ray.grading import is_infra_failure
    from swelego_ray.jobs import load_config, run_job
    from swelego_ray.validate import ValidateConfig, run_validation

    return run_job(
        "validate",
        lambda path, overrides: load_config(ValidateConfig, path, overrides),
        run_validation,
        argv,
        description=__doc__,
        failing=is_infra_failure,
    )


if __name__ == "__main__":
    sys.exit(main())
