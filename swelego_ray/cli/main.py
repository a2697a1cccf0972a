"""The `swelego` command: one sub-command per stage. Heavy imports stay in command bodies."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="swelego",
    help=(
        "The SWE-Lego recipe on Ray.\n\n"
        "Examples:\n\n"
        "  swelego demo\n\n"
        "  swelego evaluate --tasks examples/tasks.jsonl --predictions gold "
        "--repos examples/repos --out runs/eval"
    ),
    no_args_is_help=True,
    add_completion=False,
)

# Each module registers its commands on `app` via `register(app)`; one module per stage.
# Modules import only typer at top level; the stage code loads inside each command.
_COMMAND_MODULES: list[str] = [
    "swelego_ray.cli.ablate_cmd",
    "swelego_ray.cli.cache_cmd",
    "swelego_ray.cli.demo_cmd",
    "swelego_ray.cli.evaluate_cmd",
    "swelego_ray.cli.models_cmd",
    "swelego_ray.cli.report_cmd",
    "swelego_ray.cli.rollout_cmd",
    "swelego_ray.cli.serve_cmd",
    "swelego_ray.cli.sft_cmd",
    "swelego_ray.cli.synth_cmd",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)
