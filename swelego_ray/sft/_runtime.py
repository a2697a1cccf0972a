"""Where an SFT run reads and writes: model download, tokenizer, the output layout, the
checks made before any worker starts, and the summary made after `fit()`.

Output layout under `out` (local or s3://):
  checkpoints/<run_name>/step_XXXXXXXX/   Ray Train checkpoints (see _checkpoint.py)
  data/<hash>/                            tokenised examples + report (see _data.py)
  metrics.jsonl, metrics.png              training curves (rank 0)
  tensorboard/                            the same scalars as TensorBoard event files
                                          (`tensorboard --logdir OUT/tensorboard`)
  model/                                  the Hugging Face export (with _MANIFEST.json)
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swelego_ray.storage import Store, content_hash, download_dir, parse_uri, upload_dir

if TYPE_CHECKING:
    from swelego_ray.sft.config import SFTConfig

logger = logging.getLogger(__name__)

MODEL_CACHE = Path(tempfile.gettempdir()) / "swelego-models"


class SFTInputError(ValueError):
    """A mistake in what the user gave (missing file, changed setting on resume, no
    trainable data): reported as one line before any worker starts."""


def child_uri(uri: str, name: str) -> str:
    """`uri`/`name`, keeping an s3 URI's query options."""
    p = parse_uri(uri)
    return p.with_root(f"{p.root}/{name}")


def fetch_model(uri: str, local_rank: int) -> Path:
    """A local directory holding the model: the path itself, or (s3://) a per-node copy
    downloaded once by local rank 0 while the other ranks wait at a barrier."""
    import torch.distributed as dist

    p = parse_uri(uri)
    if p.is_local:
        return Path(p.root)
    target = MODEL_CACHE / content_hash(p.base)
    if local_rank == 0 and not (target / "config.json").exists():
        logger.info("downloading %s to %s", p.base, target)
        download_dir(Store(uri), "", target, require_manifest=False)
    if dist.is_initialized():
        dist.barrier()
    return target


def load_tokenizer(model_dir: Path, chat_template: str | None) -> Any:
    """The model's tokenizer, with the configured shipped chat template if any."""
    from transformers import AutoTokenizer

    from swelego_ray.models.tiny import load_chat_template

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if chat_template is not None:
        tokenizer.chat_template = load_chat_template(chat_template)
    if tokenizer.chat_template is None:
        raise ValueError(f"{model_dir} has no chat template; set chat_template=qwen3_nothink")
    if tokenizer.pad_token_id is None:
        logger.warning("%s has no pad token; padding with eos (pads never get loss)", model_dir)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def read_model_config(uri: str) -> dict[str, Any]:
    p = parse_uri(uri)
    try:
        if p.is_local:
            return json.loads((Path(p.root) / "config.json").read_text())
        return Store(uri).read_json("config.json")
    except (FileNotFoundError, KeyError):
        raise SFTInputError(
            f"model={uri}: no config.json (expected a Hugging Face model dir; "
            "`swelego models tiny --out DIR` builds the tiny one)"
        ) from None


def check_data(uri: str) -> None:
    """The trajectory file exists (a local file or directory of files, or an s3 object)."""
    from swelego_ray.sft._data import data_files_in

    p = parse_uri(uri)
    if p.is_local:
        path = Path(p.root)
        if path.is_dir():
            if not data_files_in(path):
                raise SFTInputError(f"data={uri}: a directory without .jsonl, .json or .parquet")
            return
        if not path.is_file():
            raise SFTInputError(f"data={uri}: no such file")
        return
    parent, _, name = p.root.rpartition("/")
    if not Store(p.with_root(parent)).exists(name):
        raise SFTInputError(f"data={uri}: no such object")


def preflight(config: SFTConfig) -> None:
    """Checks that need the data and the model's files; raise before any worker starts."""
    check_data(config.data)
    hf = read_model_config(config.model)
    max_pos = int(hf.get("max_position_embeddings") or 0)
    if config.rope_scaling is not None:
        max_pos = max(max_pos, int(config.rope_scaling.original_max_position_embeddings
                                   * config.rope_scaling.factor))  # fmt: skip
    if max_pos and config.max_length > max_pos:
        raise SFTInputError(
            f"max_length={config.max_length} exceeds the model's max_position_embeddings "
            f"({max_pos}); lower max_length or set rope_scaling (YaRN)"
        )


def has_checkpoints(config: SFTConfig) -> bool:
    """Whether the run (`out`, `run_name`) has checkpoints: rerunning it resumes."""
    store = Store(RunFiles.checkpoints_uri(config.out))
    return any(True for _ in store.list(f"{config.run_name}/", suffix="progress.json"))


def check_resume(config: SFTConfig, prepared: Any) -> None:
    """Refuse, before any worker starts, to resume a run whose settings changed; record
    the settings of the run beside its checkpoints (`<run_name>.settings.json`)."""
    store = Store(RunFiles.checkpoints_uri(config.out))
    key = f"{config.run_name}.settings.json"
    if has_checkpoints(config) and store.exists(key):
        before = store.read_json(key)
        if before.get("run_hash") != prepared.run_hash:
            old, new = before.get("settings", {}), prepared.settings
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            raise SFTInputError(
                f"run {config.run_name!r} in {config.out} has checkpoints made with other "
                f"settings (changed: {', '.join(changed) or 'unknown'}); rerun it with the "
                "same settings to resume, or use a new --run-name (or --out) to start over"
            )
        return
    store.write_json(key, {"run_hash": prepared.run_hash, "settings": prepared.settings})


class RunFiles:
    """The run's output store as seen by one worker (rank 0 writes metrics and model)."""

    TB_SCALARS = ("loss", "lr", "grad_norm", "tokens_per_s", "masked_fraction",
                  "no_loss_fraction", "padding_fraction", "step_time_s", "time_data_s",
                  "time_sync_s", "time_compute_s", "time_optim_s")  # fmt: skip

    def __init__(self, out: str, *, rank: int) -> None:
        self.store = Store(out)
        self.rank = rank
        scratch = Path(tempfile.mkdtemp(prefix="swelego-metrics-"))
        # close() removes it; this, when a run that raised lets go of its RunFiles
        self._remove = weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
        self.local = scratch / "metrics.jsonl"
        self.tb_dir = self.local.parent / "tensorboard"
        self._tb: Any = None

    @staticmethod
    def checkpoints_uri(out: str) -> str:
        return child_uri(out, "checkpoints")

    def start_metrics(self, *, resume_step: int) -> None:
        """Start the local metrics file from the stored one, cut at the resumed step."""
        if self.rank != 0:
            return
        lines: list[str] = []
        if resume_step > 0 and self.store.exists("metrics.jsonl"):
            for line in self.store.read_bytes("metrics.jsonl").decode().splitlines():
                if line.strip() and json.loads(line)["step"] <= resume_step:
                    lines.append(line)
        self.local.write_text("".join(f"{line}\n" for line in lines))

    def log(self, row: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        with self.local.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        self._tensorboard(row)
        logger.info(
            "step %d [%s] loss %.4f lr %.2e tok/s %.0f pad %.1f%%",
            row["step"], row["stage_name"], row["loss"], row["lr"], row["tokens_per_s"],
            100 * row["padding_fraction"],
        )  # fmt: skip

    def _tensorboard(self, row: dict[str, Any]) -> None:
        if self._tb is None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                logger.warning("tensorboardX is not installed: no TensorBoard metrics")
                self._tb = False
                return
            self._tb = SummaryWriter(str(self.tb_dir), flush_secs=5)
        if self._tb is False:
            return
        for key in self.TB_SCALARS:
            value = row.get(key)
            if isinstance(value, int | float) and value == value:  # not NaN
                self._tb.add_scalar(f"train/{key}", value, row["step"])
        self._tb.add_text("train/stage", str(row.get("stage_name", "")), row["step"])

    def upload_metrics(self) -> None:
        if self.rank == 0 and self.local.exists():
            self.store.write_bytes("metrics.jsonl", self.local.read_bytes())
        if self.rank == 0 and self._tb:
            self._tb.flush()
            for path in self.tb_dir.iterdir():
                self.store.write_bytes(f"tensorboard/{path.name}", path.read_bytes())

    def close(self) -> None:
        """Close the TensorBoard writer and remove the local scratch directory (once the
        metrics are uploaded); idempotent."""
        if self._tb:
            self._tb.close()
            self._tb = False
        self._remove()

    def upload_model(self, local_dir: Path) -> None:
        upload_dir(local_dir, self.store, "model")
        logger.info("exported model to %s", self.store.uri_of("model"))


def finish_run(config: SFTConfig, result: Any, prepared: Any, funnel: Any) -> dict[str, Any]:
    """After `fit()`: raise the run's error, plot the metrics, return a summary."""
    from swelego_ray.sft.metrics import plot_metrics, read_metrics

    if result.error is not None:
        raise result.error
    store = Store(config.out)
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "metrics.jsonl"
        jsonl.write_bytes(store.read_bytes("metrics.jsonl"))
        rows = read_metrics(jsonl)
        png = plot_metrics(
            rows, Path(tmp) / "metrics.png", title=f"{config.run_name} ({config.task})"
        )
        store.write_bytes("metrics.png", png.read_bytes())
    return {
        "model": store.uri_of("model"),
        "metrics": store.uri_of("metrics.jsonl"),
        "plot": store.uri_of("metrics.png"),
        # in-process runs (workers=0) keep no checkpoint: Ray's local mode does not persist
        "checkpoint": str(result.checkpoint.path) if result.checkpoint and config.workers else None,
        "steps": rows[-1]["step"] if rows else 0,
        "first_loss": rows[0]["loss"] if rows else None,
        "final_loss": rows[-1]["loss"] if rows else None,
        "stages": list(dict.fromkeys(r["stage_name"] for r in rows)),
        "data": prepared.report_uri,
        "funnel": funnel.as_dict(),
    }
