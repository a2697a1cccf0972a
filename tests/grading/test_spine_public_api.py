"""The spine's public modules import cheaply (no Ray, torch or docker) and export what
their __all__ names."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

MODULES = [
    "swelego_ray.testlogs",
    "swelego_ray.grading",
    "swelego_ray.evidence",
    "swelego_ray.engine",
    "swelego_ray.evaluate",
    "swelego_ray.validate",
]


@pytest.mark.parametrize("name", MODULES)
def test_exports_resolve(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    for attr in exported:
        assert getattr(module, attr) is not None, f"{name}.{attr}"


def test_importing_the_spine_loads_no_heavy_dependency():
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "print(json.dumps(sorted(m for m in ('ray', 'torch', 'docker', 'transformers')"
        " if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
