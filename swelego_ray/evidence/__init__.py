"""Evidence of a test run that the code under test cannot forge, and the runner-control
files a prediction may not change.

- `run_script`: the shell around a test command (markers from a secret that only travels
  on standard input; for pytest, the evidence plugin that signs one record per test).
- `verify_records`: the host's check of the plugin's signed records.
- `runner_control`: which files of a patch control the test runner (conftest.py, pytest
  settings, sitecustomize, .pth files, ...), so that a prediction's changes to them are
  restored before the run and reported as tampering.
"""

from swelego_ray.evidence._control import (
    RunnerControl,
    pytest_settings_differ,
    runner_control,
)
from swelego_ray.evidence._records import (
    SignedRecords,
    record_line,
    sign,
    verified_log,
    verify_records,
)
from swelego_ray.evidence._script import (
    PLUGIN_MODULE,
    SECRET_VAR,
    SETUP_FAILED,
    deadline_marker,
    end_marker,
    is_pytest_command,
    new_secret,
    plugin_files,
    plugin_module_text,
    plugin_source,
    records_marker,
    run_script,
    start_marker,
    uses_signed_records,
)
from swelego_ray.patching import new_run_id

__all__ = [
    "PLUGIN_MODULE",
    "SECRET_VAR",
    "SETUP_FAILED",
    "RunnerControl",
    "SignedRecords",
    "deadline_marker",
    "end_marker",
    "is_pytest_command",
    "new_run_id",
    "new_secret",
    "plugin_files",
    "plugin_module_text",
    "plugin_source",
    "pytest_settings_differ",
    "record_line",
    "records_marker",
    "run_script",
    "runner_control",
    "sign",
    "start_marker",
    "uses_signed_records",
    "verified_log",
    "verify_records",
]
