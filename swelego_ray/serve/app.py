"""The TTS application: `serve run swelego_ray.serve.app:build_app config=FILE`, the
RayService manifest (cluster/kuberay/rayservice-tts.yaml) and `swelego serve` all build it
here. Three deployments composed by handles: the policy (Ray Serve LLM), the verifier
(batched) and the ingress (OpenAI routes + TTS).
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve.llm.ingress import OpenAiIngress, make_fastapi_ingress

from swelego_ray.serve.config import ServeConfig
from swelego_ray.serve.http import make_http_app
from swelego_ray.serve.ingress import ROUTES, TTSIngress
from swelego_ray.serve.policy import build_policy, serve_llm_config
from swelego_ray.serve.verifier import build_verifier


def config_from_args(args: dict[str, Any] | ServeConfig | None) -> ServeConfig:
    """`args` as Ray Serve passes them: {"config": FILE} and/or the sections themselves
    (`policy`, `verifier`, `tts`, `http`), or a ServeConfig."""
    if isinstance(args, ServeConfig):
        return args
    args = dict(args or {})
    path = args.pop("config", None)
    return ServeConfig.load(path, **args)


def build_app(args: dict[str, Any] | ServeConfig | None = None) -> Any:
    """The bound application."""
    config = config_from_args(args)
    llm, card = build_policy(config.policy)
    verifier = build_verifier(config.verifier)
    ingress_cls = make_fastapi_ingress(
        TTSIngress, endpoint_map=ROUTES, app=make_http_app(config.http)
    )
    options = OpenAiIngress.get_deployment_options([serve_llm_config(config.policy)])
    options |= config.tts.autoscaling.serve_options()
    options |= {
        "max_ongoing_requests": 1000,  # rollouts call the policy through this ingress
        "graceful_shutdown_timeout_s": 30,
        "health_check_period_s": 10,
        "ray_actor_options": {"num_cpus": config.tts.ingress_cpus},
    }
    deployment = serve.deployment(ingress_cls, name="TTSIngress", **options)
    return deployment.bind(
        llm_deployments={config.policy.model_id: llm},
        model_cards={config.policy.model_id: card},
        verifier=verifier,
        config=config,
    )
