"""SWE-bench's per-instance log layout and run-report name (swebench.harness, 4.x).

    <out>/logs/run_evaluation/<run_id>/<model>/<instance>/
        patch.diff          the prediction, as given
        run_instance.log    how the patches applied and what the verdict is
        test_output.txt     the test run's output (when the tests ran)
        report.json         {instance_id: {patch_is_None, patch_exists,
                            patch_successfully_applied, resolved, tests_status}}
    <out>/<model>.<run_id>.json   the run report (the same content as report.json)

`<model>` is `model_name_or_path` with `/` replaced by `__`. As SWE-bench does,
report.json is written only for an instance that was graded: an instance that errored
(environment, patch not applying, timeout, ...) has no report.json, so SWE-bench's own
`make_run_report` reads these logs the same way. The results themselves stay
content-keyed under `<out>/evaluate/` (what a rerun reuses); this layout is rewritten
from them at the end of every run.
"""

from __future__ import annotations

from typing import Any

from swelego_ray.engine.records import attachment_key
from swelego_ray.evaluate._config import Prediction
from swelego_ray.evaluate._instance import InstanceResult
from swelego_ray.grading import Outcome
from swelego_ray.storage import Store

LOG_DIR = "logs/run_evaluation"
_EMPTY_TESTS = {"success": [], "failure": []}


def _segment(name: str) -> str:
    """`name` as one path segment, as SWE-bench names it (`/` -> `__`); what no path
    segment can hold (control characters, `.`/`..`, text that is not Unicode) replaced."""
    name = name.encode("utf-8", "replace").decode().replace("/", "__")
    name = "".join(c if c.isprintable() else "_" for c in name)
    return name if name not in (".", "..") else name.replace(".", "_")


def model_dir(model_name_or_path: str) -> str:
    """SWE-bench's directory name for a model (`/` -> `__`; an empty name is `None`,
    as SWE-bench formats a missing model)."""
    return _segment(model_name_or_path or "None")


def run_report_name(model_name_or_path: str, run_id: str) -> str:
    """SWE-bench's run report file name, `<model>.<run_id>.json`."""
    return f"{model_dir(model_name_or_path)}.{run_id}.json"


def instance_log_dir(run_id: str, model_name_or_path: str, instance_id: str) -> str:
    return f"{LOG_DIR}/{run_id}/{model_dir(model_name_or_path)}/{_segment(instance_id)}"


def instance_report(result: InstanceResult, prediction: Prediction) -> dict[str, Any] | None:
    """SWE-bench's per-instance report.json for a graded instance; None for an error."""
    if result.report.outcome is Outcome.ERROR:
        return None
    grade = result.report
    tests = {
        "FAIL_TO_PASS": grade.FAIL_TO_PASS.model_dump(),
        "PASS_TO_PASS": grade.PASS_TO_PASS.model_dump(),
        "FAIL_TO_FAIL": dict(_EMPTY_TESTS),
        "PASS_TO_FAIL": dict(_EMPTY_TESTS),
    }
    return {
        result.instance_id: {
            "patch_is_None": prediction.model_patch is None,
            "patch_exists": prediction.model_patch is not None,
            "patch_successfully_applied": True,
            "resolved": grade.resolved,
            "tests_status": tests,
        }
    }


def _instance_log(result: InstanceResult, apply_log: str) -> str:
    grade = result.report
    lines = [apply_log.rstrip()] if apply_log.strip() else []
    lines.append(f"test command: {result.test_command}" if result.test_command else "")
    lines.append(f"outcome: {grade.outcome.value}" + (f" ({grade.reason})" if grade.reason else ""))
    if grade.detail:
        lines += ["detail:", grade.detail]
    return "\n".join(line for line in lines if line) + "\n"


def _attachment(store: Store, key: str | None, suffix: str) -> str | None:
    if key is None:
        return None
    where = attachment_key(key, suffix)
    return store.read_bytes(where).decode() if store.exists(where) else None


def write_instance_logs(
    store: Store,
    run_id: str,
    result: InstanceResult,
    prediction: Prediction,
    key: str | None,
) -> None:
    """One instance's SWE-bench log directory, from its stored result's attachments
    (`key`: where the engine stored the result; None for an instance that never reached
    a sandbox)."""
    where = instance_log_dir(run_id, prediction.model_name_or_path, result.instance_id)
    for name in ("report.json", "test_output.txt"):  # a stale file from an earlier run
        if store.exists(f"{where}/{name}"):
            store.delete(f"{where}/{name}")
    patch = _attachment(store, key, "patch.diff")
    patch = patch if patch is not None else prediction.model_patch or ""
    store.write_bytes(f"{where}/patch.diff", patch.encode("utf-8", "replace"))
    log = _instance_log(result, _attachment(store, key, "apply.log") or "")
    store.write_bytes(f"{where}/run_instance.log", log.encode("utf-8", "replace"))
    output = _attachment(store, key, "test_output.txt")
    if output is not None:
        store.write_bytes(f"{where}/test_output.txt", output.encode())
    report = instance_report(result, prediction)
    if report is not None:
        store.write_json(f"{where}/report.json", report)
