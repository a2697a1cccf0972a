"""KubeRay manifests from the cluster definition: RayCluster, one RayJob per stage, and
the RayService of the TTS app, all on the same worker groups."""

from __future__ import annotations

from typing import Any

import yaml

from swelego_ray.cluster._spec import ClusterSpec, NodeType

REPO_IN_IMAGE = "/home/ray/swelego-ray"  # where cluster/Dockerfile puts the checkout
SERVICE_ACCOUNT = "swelego-ray"  # with S3 access (IRSA), see cluster/README.md


def _container(spec: ClusterSpec, name: str, image: str, cpus: int, mem_gib: int, gpus: int):
    limits: dict[str, Any] = {"cpu": str(cpus), "memory": f"{mem_gib}Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    return {
        "name": name,
        "image": image,
        "env": [{"name": k, "value": v} for k, v in spec.ray_env.items()],
        "resources": {"requests": dict(limits), "limits": dict(limits)},
    }


def _worker_group(spec: ClusterSpec, name: str, nt: NodeType) -> dict[str, Any]:
    cpus = nt.cpus - spec.kube_reserve.cpus
    mem = nt.memory_gib - spec.kube_reserve.memory_gib
    ray = _container(spec, "ray-worker", spec.kube_images[nt.image], cpus, mem, nt.gpus)
    pod: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "nodeSelector": {"node.kubernetes.io/instance-type": nt.aws_instance_type},
        "containers": [ray],
    }
    if nt.gpus:
        pod["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    if nt.container_runtime:  # a Docker engine beside Ray for the sandboxes
        ray["env"].append({"name": "DOCKER_HOST", "value": "tcp://127.0.0.1:2375"})
        pod["containers"].append(
            {
                "name": "dind",
                "image": "docker:27-dind",
                "args": ["--host=tcp://127.0.0.1:2375"],
                "env": [{"name": "DOCKER_TLS_CERTDIR", "value": ""}],
                "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "docker-data", "mountPath": "/var/lib/docker"}],
            }
        )
        pod["volumes"] = [{"name": "docker-data", "emptyDir": {}}]
    group: dict[str, Any] = {
        "groupName": name,
        "replicas": nt.min_workers,
        "minReplicas": nt.min_workers,
        "maxReplicas": nt.max_workers,
        "rayStartParams": {},
        "template": {"spec": pod},
    }
    if nt.resources:
        group["resources"] = {k: str(v) for k, v in nt.resources.items()}
    return group


def raycluster_spec(spec: ClusterSpec) -> dict[str, Any]:
    """The RayCluster `spec` (also embedded in the RayService)."""
    h = spec.head
    head = _container(
        spec,
        "ray-head",
        spec.kube_images["cpu"],
        h.cpus - spec.kube_reserve.cpus,
        h.memory_gib - spec.kube_reserve.memory_gib,
        0,
    )
    head["ports"] = [
        {"containerPort": 6379, "name": "gcs"},
        {"containerPort": 8265, "name": "dashboard"},
        {"containerPort": 10001, "name": "client"},
        {"containerPort": 8000, "name": "serve"},
    ]
    start = {"dashboard-host": "0.0.0.0"}
    if "CPU" in h.resources:
        start["num-cpus"] = str(h.resources["CPU"])
    return {
        "rayVersion": spec.ray_version,
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": {
            "version": "v2",
            "upscalingMode": "Default",
            "idleTimeoutSeconds": round(spec.idle_timeout_minutes * 60),
        },
        "headGroupSpec": {
            "rayStartParams": start,
            "template": {"spec": {"serviceAccountName": SERVICE_ACCOUNT, "containers": [head]}},
        },
        "workerGroupSpecs": [_worker_group(spec, n, nt) for n, nt in spec.node_types.items()],
    }


def render_raycluster(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": spec.cluster_name},
        "spec": raycluster_spec(spec),
    }


def kube_runtime_env(runtime_env: dict[str, Any]) -> dict[str, Any]:
    """jobs/runtime_env.yaml for a submitter pod: the checkout is in the image."""
    return {**runtime_env, "working_dir": REPO_IN_IMAGE}


def render_rayjob(spec: ClusterSpec, stage: str, runtime_env: dict[str, Any]) -> dict[str, Any]:
    job = spec.stages[stage]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": f"{spec.cluster_name}-{stage}"},
        "spec": {
            "entrypoint": f"python jobs/{job.script} {job.args}".strip(),
            "runtimeEnvYAML": yaml.safe_dump(kube_runtime_env(runtime_env), sort_keys=False),
            # Runs on the shared autoscaling RayCluster; its requests scale the node types.
            "clusterSelector": {"ray.io/cluster": spec.cluster_name},
            "submissionMode": "K8sJobMode",
            "backoffLimit": 2,
        },
    }


def render_rayservice(spec: ClusterSpec, runtime_env: dict[str, Any]) -> dict[str, Any]:
    app: dict[str, Any] = {
        "name": "tts",
        "import_path": spec.serve.import_path,
        "route_prefix": spec.serve.route_prefix,
        "runtime_env": {"env_vars": dict(runtime_env.get("env_vars", {}))},
    }
    if spec.serve.args:
        app["args"] = spec.serve.args
    serve_config = {"http_options": {"host": "0.0.0.0", "port": 8000}, "applications": [app]}
    cluster = raycluster_spec(spec)
    if spec.serve.api_key_secret:
        _add_secret_env(cluster, "SWELEGO_API_KEY", spec.serve.api_key_secret, "api-key")
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": f"{spec.cluster_name}-tts"},
        "spec": {
            "serveConfigV2": yaml.safe_dump(serve_config, sort_keys=False),
            "rayClusterConfig": cluster,
        },
    }


def _add_secret_env(cluster: dict[str, Any], name: str, secret: str, key: str) -> None:
    """Every Ray container of the cluster gets `name` from a Kubernetes secret (Serve
    replicas inherit their node's environment)."""
    groups = [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            container.setdefault("env", []).append(
                {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            )
