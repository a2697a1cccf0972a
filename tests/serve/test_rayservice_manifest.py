"""The RayService manifest serves the real app: its import path resolves to the app
builder, its args are a valid serve config, the API key comes from a secret."""

from __future__ import annotations

import importlib

import yaml

from swelego_ray.cluster import DEFAULT_CLUSTER_DIR
from swelego_ray.serve import ServeConfig
from swelego_ray.serve.app import build_app
from swelego_ray.serve.policy import serve_llm_config


def test_the_rayservice_names_the_real_app_with_a_valid_config(monkeypatch):
    service = yaml.safe_load((DEFAULT_CLUSTER_DIR / "kuberay" / "rayservice-tts.yaml").read_text())
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    [app] = serve_config["applications"]
    module, _, name = app["import_path"].partition(":")
    assert getattr(importlib.import_module(module), name) is build_app

    monkeypatch.setenv("SWELEGO_API_KEY", "from-the-secret")
    config = ServeConfig.model_validate(app["args"])
    assert config.http.host == "0.0.0.0" and config.http.api_key == "from-the-secret"
    assert config.tts.item_resources == {"sandbox": 1} and config.tts.backend_name == "docker"
    llm = serve_llm_config(config.policy)
    assert llm.model_loading_config.model_source.bucket_uri.startswith("s3://")
    bundles = llm.placement_group_config["bundles"]
    assert bundles == [{"GPU": 1, "CPU": 1, "serve_replica": 1}]
    assert llm.engine_kwargs["tool_call_parser"] == "hermes"

    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    env = {e["name"]: e for e in head["containers"][0]["env"]}
    assert env["SWELEGO_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "swelego-api-key"
