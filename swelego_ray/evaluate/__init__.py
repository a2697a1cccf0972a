"""Hack-free evaluation: sanitised sandboxes, prediction then test patch, graded tests.

from swelego_ray.evaluate import EvaluateConfig, run_evaluation
report = run_evaluation(EvaluateConfig(tasks="tasks.jsonl", predictions="gold",
                                       repos_dir="repos", out="runs/eval"))
"""

from swelego_ray.evaluate._config import EMPTY, GOLD, EvaluateConfig, Prediction, load_predictions
from swelego_ray.evaluate._instance import EvalItem, InstanceResult, evaluate_instance
from swelego_ray.evaluate._report import EvaluationReport, render_markdown
from swelego_ray.evaluate._run import run_evaluation
from swelego_ray.evaluate._swebench_logs import LOG_DIR, model_dir, run_report_name

__all__ = [
    "EMPTY",
    "GOLD",
    "LOG_DIR",
    "EvalItem",
    "EvaluateConfig",
    "EvaluationReport",
    "InstanceResult",
    "Prediction",
    "evaluate_instance",
    "load_predictions",
    "model_dir",
    "render_markdown",
    "run_evaluation",
    "run_report_name",
]
