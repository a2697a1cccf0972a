"""The refined-SFT recipe on Ray Train: one file, read top to bottom.

`run_sft(config)` runs on the driver: it validates everything it can (config, model
files, chat template, data), tokenises the trajectories once (error masking applied)
into the output store, then starts a TorchTrainer whose workers run `SFTRecipe`:

  setup    download the model on each node, load it in fp32, shard with FSDP2, build
           AdamW + warmup/cosine schedule, open the tokenised data and the curriculum
           sampler (this rank's share), restore the last checkpoint if Ray hands one back
  train    curriculum stages in order (easy -> medium -> hard), epochs per stage,
           length-grouped micro-batches, gradient accumulation, loss per unmasked token
           across ranks, clipping; metrics to metrics.jsonl (rank 0); a checkpoint (with a
           TrainingProgress) every `checkpoint_every` steps and at each stage's end
  save     gather the full state dict and export a Hugging Face model + tokenizer +
           chat template to `out`/model
  cleanup  upload metrics, free the process group's resources

Only checkpoint steps call `ray.train.report` (each report synchronises with the
controller, ~2 s). A killed worker makes Ray restart the group (FailureConfig); the
restarted recipe resumes from the last checkpoint's step, sampler position and RNG.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from swelego_ray.sft import _parallel as par
from swelego_ray.sft._checkpoint import TrainingProgress, load_checkpoint, save_checkpoint
from swelego_ray.sft._data import PreparedData, open_prepared, prepare_data, stage_plan
from swelego_ray.sft._runtime import RunFiles, fetch_model, load_tokenizer
from swelego_ray.sft._step import collate, lr_lambda, micro_batch_loss_sum
from swelego_ray.sft.config import SFTConfig

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, TrainingProgress], None]
"""Called on every worker after each optimizer step with (rank, progress)."""


class SFTRecipe:
    """Runs inside one Ray Train worker."""

    def __init__(self, config: SFTConfig, prepared: PreparedData, on_step: StepCallback | None):
        self.config = config
        self.prepared = prepared
        self.on_step = on_step
        self.rank, self.world_size = par.world()

    # -- setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        import ray.train

        cfg = self.config
        self.device = self._device()
        torch.manual_seed(cfg.seed + self.rank)
        self.model_dir = fetch_model(cfg.model, ray.train.get_context().get_local_rank())
        self.tokenizer = load_tokenizer(self.model_dir, cfg.chat_template)
        self.data = open_prepared(self.prepared)
        self.plan = stage_plan(self.data, cfg, rank=self.rank, world_size=self.world_size)
        self.model = par.build_model(self.model_dir, cfg, self.device)
        self.hf_config = par.unwrap(self.model).config
        # FSDP2 casts for bf16 itself; a replicated (DDP / single) model needs autocast
        self.autocast = cfg.precision == "bf16" and not hasattr(self.model, "reshard")
        decay, no_decay = _param_groups(self.model)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=cfg.adam_betas,
            fused=self.device.type == "cuda",
        )
        total = self.plan.total_steps
        warmup = round(cfg.warmup_ratio * total)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(total, warmup, cfg.lr_schedule, cfg.min_lr_ratio)
        )
        self.progress = TrainingProgress(config_hash=self.prepared.run_hash, total_steps=total)
        self.files = RunFiles(cfg.out, rank=self.rank)
        checkpoint = ray.train.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as ckpt_dir:
                self.progress = load_checkpoint(
                    Path(ckpt_dir),
                    model=self.model,
                    optimizer=self.optimizer,
                    scheduler=self.scheduler,
                    rank=self.rank,
                )
            if self.progress.config_hash != self.prepared.run_hash:
                raise RuntimeError(
                    f"checkpoint of run {cfg.run_name!r} was made with another config or data; "
                    "use a new run_name (or a new out) to start over"
                )
            self.plan.load_state_dict(self.progress.sampler)
            logger.info("resumed at step %d (%s)", self.progress.step, self.progress.stage_name)
        self.files.start_metrics(resume_step=self.progress.step)
        logger.info(
            "rank %d/%d: %d steps over stages %s, effective batch %d",
            self.rank, self.world_size, total, self.plan.stage_names, cfg.effective_batch,
        )  # fmt: skip

    def _device(self) -> torch.device:
        if self.config.use_gpu:
            import ray.train.torch

            device = ray.train.torch.get_device()
            torch.cuda.set_device(device)
            return device
        return torch.device("cpu")

    # -- train ---------------------------------------------------------------------------
    def train(self) -> None:
        cfg = self.config
        self.model.train()
        window = _Window()
        for work in self.plan.steps():
            p = self.progress
            p.stage, p.stage_name, p.epoch = work.stage, work.stage_name, work.epoch
            stats = self._optimizer_step(work.micro_batches)
            p.step += 1
            p.tokens_trained += int(stats["loss_tokens"])
            p.sampler = self.plan.state_dict()
            window.add(stats)
            if p.step % cfg.log_every == 0 or p.step == p.total_steps:
                self._log(window.flush(self.device))
            if self.on_step is not None:
                self.on_step(self.rank, p)
            at_stage_end = p.step in self.plan.stage_end_steps
            if (p.step % cfg.checkpoint_every == 0 or at_stage_end) and p.step < p.total_steps:
                self.save_checkpoint()
        self.progress.done = True
        self.save_checkpoint()

    def _optimizer_step(self, micro_batches: list[list[int]]) -> dict[str, float]:
        """One optimizer step; its stats carry the wall time of each phase (the profile:
        collation, waiting for the token count's all-reduce, forward + backward with the
        gradient collectives, clipping + optimizer)."""
        t0 = time.perf_counter()
        batches = [collate(self.data.rows(ix), self.tokenizer.pad_token_id) for ix in micro_batches]
        local = [sum(b.loss_tokens for b in batches), sum(b.real_tokens for b in batches)]
        masked = float(sum(self.data.masked_tokens(ix) for ix in micro_batches))
        t1 = time.perf_counter()
        global_loss_tokens, _ = par.all_reduce_sum(local, self.device)
        t2 = time.perf_counter()
        scale = self.world_size / max(global_loss_tokens, 1.0)
        loss_sum = 0.0
        for i, batch in enumerate(batches):
            par.set_gradient_sync(self.model, i == len(batches) - 1)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.autocast):
                loss = micro_batch_loss_sum(self.model, batch.to(self.device))
            (loss * scale).backward()
            loss_sum += loss.item()
        t3 = time.perf_counter()
        grad_norm = float("nan")
        if global_loss_tokens > 0:
            if self.config.max_grad_norm is not None:
                norm = torch.nn.utils.clip_grad_norm_(
                    self.model.parameters(), self.config.max_grad_norm
                )
                grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        return {
            "loss_sum": loss_sum,
            "loss_tokens": local[0],
            "real_tokens": local[1],
            "pad_tokens": float(sum(b.pad_tokens for b in batches)),
            "masked_tokens": masked,
            "grad_norm": grad_norm,
            "lr": lr,
            "time_data_s": t1 - t0,
            "time_sync_s": t2 - t1,
            "time_compute_s": t3 - t2,
            "time_optim_s": time.perf_counter() - t3,
        }

    def _log(self, summary: dict[str, float]) -> None:
        p = self.progress
        row = {"step": p.step, "stage": p.stage, "stage_name": p.stage_name, "epoch": p.epoch}
        row.update(summary)
        self.files.log(row)

    # -- save ----------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """A checkpoint of every rank (collective) reported to Ray Train, then metrics."""
        import ray.train
        from ray.train import Checkpoint

        p = self.progress
        with tempfile.TemporaryDirectory(prefix="swelego-ckpt-") as tmp:
            save_checkpoint(
                Path(tmp),
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                progress=p,
                rank=self.rank,
            )
            ray.train.report(
                {"step": p.step, "stage": p.stage_name, "done": p.done},
                checkpoint=Checkpoint.from_directory(tmp),
                checkpoint_dir_name=f"step_{p.step:08d}",
            )
        if self.rank == 0:
            logger.info("checkpoint step %d [%s] saved", p.step, p.stage_name)
        self.files.upload_metrics()

    def export(self) -> None:
        """Hugging Face export of the final weights (all ranks gather, rank 0 writes)."""
        state = par.full_state_dict(self.model)
        if self.rank == 0:
            with tempfile.TemporaryDirectory(prefix="swelego-export-") as tmp:
                par.export_hf(
                    state,
                    self.hf_config,
                    self.tokenizer,
                    Path(tmp),
                    dtype=par.param_dtype(self.config),
                    source_dir=self.model_dir,
                )
                self.files.upload_model(Path(tmp))
        del state

    # -- cleanup -------------------------------------------------------------------------
    def cleanup(self) -> None:
        self.files.upload_metrics()
        del self.model, self.optimizer
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def release(self) -> None:
        """Remove this worker's local scratch (also after a failure; Ray may end a worker
        process without running its exit handlers)."""
        files = getattr(self, "files", None)
        if files is not None:
            files.close()


class _Window:
    """Sums step stats between two log rows; one all-reduce turns them into global rates."""

    KEYS = ("loss_sum", "loss_tokens", "real_tokens", "pad_tokens", "masked_tokens")
    TIMES = ("time_data_s", "time_sync_s", "time_compute_s", "time_optim_s")

    def __init__(self) -> None:
        self.sums = [0.0] * (len(self.KEYS) + len(self.TIMES) + 1)
        self.last: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def add(self, s: dict[str, float]) -> None:
        for i, k in enumerate(self.KEYS + self.TIMES):
            self.sums[i] += s[k]
        self.sums[-1] += 1
        self.last = s

    def flush(self, device: torch.device) -> dict[str, float]:
        totals = par.all_reduce_sum(self.sums, device)
        loss_sum, loss_tok, real, pad, masked = totals[: len(self.KEYS)]
        steps = totals[-1]
        elapsed = time.perf_counter() - self.t0
        world = par.world()[1]
        times = totals[len(self.KEYS) : -1]  # summed over ranks: the mean rank's seconds
        phases = {k: t / world for k, t in zip(self.TIMES, times, strict=True)}
        out = {
            "loss": loss_sum / max(loss_tok, 1.0),
            "lr": self.last["lr"],
            "grad_norm": self.last["grad_norm"],
            "tokens_per_s": real / elapsed,
            "trained_tokens": loss_tok,
            "masked_fraction": masked / max(masked + loss_tok, 1.0),
            "no_loss_fraction": 1.0 - loss_tok / max(real, 1.0),
            "padding_fraction": pad / max(real + pad, 1.0),
            "step_time_s": elapsed / max(steps / world, 1.0),
            "window_s": elapsed,
            "real_tokens": real,
            "pad_tokens": pad,
            **phases,
        }
        self.sums = [0.0] * len(self.sums)
        self.t0 = time.perf_counter()
        return out


def _param_groups(model: torch.nn.Module) -> tuple[list, list]:
    """Weight decay on matrices only (not on norms and biases)."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return decay, no_decay


RAY_TRAIN_CHATTY_MODULES = (
    "ray.train.v2._internal.execution.storage",  # "Checkpoint successfully created at"
    "ray.train.v2._internal.execution.context",  # "Reporting training result"
)
"""Ray Train modules that log one line per rank for every checkpoint; rank 0 of the
recipe logs one line per checkpoint instead (SWELEGO_LOG_LEVEL=DEBUG keeps them)."""


def _quiet_ray_train_checkpoint_lines() -> None:
    import importlib.util

    for module in RAY_TRAIN_CHATTY_MODULES:
        spec = importlib.util.find_spec(module)
        # a module's logger is named after the module or, in some, after its file path
        for name in (module, spec.origin if spec and spec.origin else module):
            logging.getLogger(name).setLevel(logging.WARNING)


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """The TorchTrainer entry point: construct, setup, train, save, cleanup."""
    level = os.environ.get("SWELEGO_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level)
    if level.upper() != "DEBUG":
        _quiet_ray_train_checkpoint_lines()
    config = SFTConfig.model_validate(loop_config["config"])
    recipe = SFTRecipe(config, PreparedData(**loop_config["prepared"]), loop_config.get("on_step"))
    try:
        recipe.setup()
        if not recipe.progress.done:
            recipe.train()
        recipe.export()
        recipe.cleanup()
    finally:
        recipe.release()


FORWARDED_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED",
                 "SWELEGO_LOG_LEVEL")  # fmt: skip


PREEMPTION_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"


def _forwarded_env() -> dict[str, str]:
    """Storage credentials and log level set on the driver, passed on to the workers."""
    return {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}


def _state_api_available() -> bool:
    """Whether this Ray cluster serves the state API (it runs a dashboard)."""
    import ray

    try:
        return bool(ray._private.worker.global_worker.node.webui_url)
    except AttributeError:
        return True  # cannot tell: keep Ray Train's defaults


@contextlib.contextmanager
def _local_cluster_quiet(local: bool) -> Iterator[None]:
    """On a local cluster without a dashboard, fit without Ray Train's PreemptionWatcher: it
    watches for cloud node preemption notices (a local node has none) and its actor start
    prints a `core_worker.cc` error line on every run. The driver's environment reaches
    the controller; a value the user set is kept."""
    if not local or PREEMPTION_ENV in os.environ:
        yield
        return
    os.environ[PREEMPTION_ENV] = "0"
    try:
        yield
    finally:
        os.environ.pop(PREEMPTION_ENV, None)


def _trainer_without_pg_cleaner() -> type:
    """TorchTrainer without Ray Train's PlacementGroupCleaner. The cleaner polls the
    controller's state through the state API every second; on a local cluster without a
    dashboard (this project's default) every poll fails with a warning on the console (or a
    traceback when several Ray instances run on the machine), and there is nothing for it
    to clean that the driver's own shutdown does not."""
    from ray.train.torch import TorchTrainer

    class _Trainer(TorchTrainer):
        def _create_default_callbacks(self) -> list:
            callbacks = super()._create_default_callbacks()
            return [c for c in callbacks if type(c).__name__ != "PlacementGroupCleanerCallback"]

    return _Trainer


def run_sft(
    config: SFTConfig,
    *,
    on_step: StepCallback | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Validate, tokenise, train on Ray, export; returns a summary (paths, steps, funnel).
    Local paths are made absolute here, on the driver, before anything reaches a worker;
    `echo` gets the data summary (what was read per format, masking, tokenising)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from swelego_ray._ray import init_ray
    from swelego_ray.engine import require_resources
    from swelego_ray.sft._runtime import check_resume, finish_run, has_checkpoints, preflight
    from swelego_ray.sft.config import resolve_paths
    from swelego_ray.storage import ray_storage

    config = resolve_paths(config)
    preflight(config)
    resources = {"CPU": config.cpus_per_worker} | ({"GPU": 1} if config.use_gpu else {})
    what = f"SFT ({config.workers} Ray Train workers)"
    resuming = bool(config.workers) and has_checkpoints(config)
    if config.workers and not resuming:  # a GPU no node has: an error before tokenising
        init_ray()
        require_resources(resources, what=what)
    prepared, funnel = prepare_data(config, echo)
    if config.workers:  # a resume with other settings: refused before Ray starts
        check_resume(config, prepared)
    init_ray()
    if resuming:
        require_resources(resources, what=what)
    storage_path, storage_fs = ray_storage(RunFiles.checkpoints_uri(config.out))
    local = not _state_api_available()
    trainer_cls = _trainer_without_pg_cleaner() if local else TorchTrainer
    trainer = trainer_cls(
        train_loop_per_worker,
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "prepared": prepared.model_dump(),
            "on_step": on_step,
        },
        torch_config=TorchConfig(backend="nccl" if config.use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=config.workers, use_gpu=config.use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=config.run_name,
            storage_path=storage_path,
            storage_filesystem=storage_fs,
            failure_config=FailureConfig(max_failures=config.max_failures if config.workers else 0),
            checkpoint_config=CheckpointConfig(num_to_keep=config.keep_checkpoints),
            worker_runtime_env={"env_vars": _forwarded_env()},
        ),
    )
    with _local_cluster_quiet(local):
        result = trainer.fit()
    return finish_run(config, result, prepared, funnel)
