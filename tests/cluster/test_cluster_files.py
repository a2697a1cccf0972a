"""The cluster files: generated from one definition, valid for Ray and for KubeRay, offline."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from swelego_ray.cluster import (
    DEFAULT_CLUSTER_DIR,
    HEAD_TYPE,
    check_files,
    load_spec,
    render_fake,
)
from swelego_ray.cluster._validate import validate_kuberay, validate_launcher

CRD_DIR = Path(__file__).parent / "kuberay-crds"  # v1 schemas of KubeRay's CRDs, see README
REPO = DEFAULT_CLUSTER_DIR.parent


def _load(rel: str) -> dict:
    return yaml.safe_load((DEFAULT_CLUSTER_DIR / rel).read_text())


def test_generated_files_match_node_types():
    assert check_files() == []


def test_launcher_yaml_passes_ray_validation():
    prepared = validate_launcher(_load("aws.yaml"))
    assert prepared["provider"]["type"] == "aws"
    assert set(prepared["available_node_types"]) == {HEAD_TYPE, *load_spec().node_types}
    validate_launcher(render_fake(load_spec()))
    broken = _load("aws.yaml")
    broken["idle_timeout_minute"] = 5  # a typo Ray's schema rejects
    with pytest.raises(jsonschema.ValidationError, match="idle_timeout_minute"):
        validate_launcher(broken)


def test_kuberay_manifests_pass_the_crd_schemas():
    files = sorted((DEFAULT_CLUSTER_DIR / "kuberay").glob("*.yaml"))
    validated = 0
    for path in files:
        doc = yaml.safe_load(path.read_text())
        assert validate_kuberay(doc, CRD_DIR) == [], path
        if doc["kind"] == "RayJob":
            env = yaml.safe_load(doc["spec"]["runtimeEnvYAML"])
            assert env["working_dir"] and env["env_vars"]
            script = doc["spec"]["entrypoint"].split()[1]
            assert (REPO / script).is_file(), f"{path.name}: {script} does not exist"
        if doc["kind"] == "RayService":
            apps = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"]
            assert apps[0]["import_path"] == "swelego_ray.serve.app:build_app"
        validated += 1
    spec = load_spec()
    assert validated == len(files) == len(spec.stages) + 2  # RayCluster + RayService


def test_crd_validation_is_not_vacuous():
    doc = _load("kuberay/raycluster.yaml")
    bad = copy.deepcopy(doc)
    bad["spec"]["workerGroupSpecs"][0]["maxReplica"] = 3
    bad["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "cpu"
    ] = [1]
    del bad["spec"]["workerGroupSpecs"][1]["groupName"]
    errors = validate_kuberay(bad, CRD_DIR)
    assert any("'maxReplica' was unexpected" in e for e in errors), errors
    assert any("limits/cpu" in e for e in errors), errors
    assert any("'groupName' is a required property" in e for e in errors), errors


def test_node_types_agree_across_aws_kuberay_and_fake():
    spec = load_spec()
    aws = _load("aws.yaml")["available_node_types"]
    kube = {g["groupName"]: g for g in _load("kuberay/raycluster.yaml")["spec"]["workerGroupSpecs"]}
    service = _load("kuberay/rayservice-tts.yaml")["spec"]["rayClusterConfig"]
    for group in [service["headGroupSpec"], *service["workerGroupSpecs"]]:
        for container in group["template"]["spec"]["containers"]:  # + the API key secret
            container["env"] = [e for e in container["env"] if e["name"] != "SWELEGO_API_KEY"]
    assert service == _load("kuberay/raycluster.yaml")["spec"]
    fake = render_fake(spec)["available_node_types"]
    assert set(aws) == set(fake) == {HEAD_TYPE, *spec.node_types}
    assert set(kube) == set(spec.node_types)
    for name, nt in spec.node_types.items():
        custom = dict(nt.resources)
        # AWS: every Ray resource, exactly.
        assert aws[name]["resources"] == nt.ray_resources()
        assert (aws[name]["min_workers"], aws[name]["max_workers"]) == (
            nt.min_workers,
            nt.max_workers,
        )
        # KubeRay: custom resources declared, GPUs as container limits, same bounds.
        group = kube[name]
        assert {k: int(v) for k, v in group.get("resources", {}).items()} == custom
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits.get("nvidia.com/gpu", 0)) == nt.gpus
        assert (group["minReplicas"], group["maxReplicas"]) == (nt.min_workers, nt.max_workers)
        # Fake provider: same GPUs and custom resources (CPUs shrunk to fit a laptop).
        fake_res = {
            k: v
            for k, v in fake[name]["resources"].items()
            if k not in ("CPU", "object_store_memory")
        }
        assert fake_res == {k: v for k, v in nt.ray_resources().items() if k != "CPU"}
    # Every stage's needs resolve to something a node type offers.
    offered = {r for nt in spec.node_types.values() for r in nt.resources} | set(spec.node_types)
    assert all(stage.needs in offered for stage in spec.stages.values())


def test_bad_definitions_are_rejected_with_the_field(tmp_path):
    raw = yaml.safe_load((DEFAULT_CLUSTER_DIR / "node_types.yaml").read_text())
    raw["node_types"]["gpu-8x"]["resources"] = {"GPU": 8}
    path = tmp_path / "node_types.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="GPU is derived from cpus/gpus"):
        load_spec(path)
    raw["node_types"]["gpu-8x"]["resources"] = {}
    raw["stages"]["sft"]["needs"] = "tpu"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="stage 'sft' needs 'tpu'"):
        load_spec(path)


def test_stage_configs_load_into_their_config_classes():
    from swelego_ray.evaluate import EvaluateConfig
    from swelego_ray.jobs import load_config
    from swelego_ray.rollout import RolloutConfig
    from swelego_ray.synth import SynthConfig
    from swelego_ray.validate import ValidateConfig

    classes = {
        "evaluate.yaml": EvaluateConfig,
        "validate.yaml": ValidateConfig,
        "synth.yaml": SynthConfig,
        "rollout.yaml": RolloutConfig,
    }
    files = sorted((REPO / "jobs" / "configs").glob("*.yaml"))
    assert {f.name for f in files} == set(classes)
    for path in files:
        cfg = load_config(classes[path.name], str(path), ["workers=3"])
        assert cfg.workers == 3 and cfg.out.startswith("s3://")
        assert cfg.item_resources == {"sandbox": 1}  # items land on sandbox-cpu nodes
