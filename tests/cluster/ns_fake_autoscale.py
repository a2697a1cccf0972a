"""Inside a private namespace: Ray's fake multi-node provider with swelego-ray's node types
(rendered from cluster/node_types.yaml) scales up for GPU / sandbox / serve requests and
removes the nodes once idle. Prints RESULT {...} with what happened and how long it took."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nsutil import GCS_PORT, alive_nodes, ray_env, ray_start, ray_stop, wait_for

from swelego_ray.cluster import dump, load_spec, render_fake

IDLE_MINUTES = 0.1
T0 = time.monotonic()


def main() -> dict:
    import ray

    spec = load_spec()
    config = Path(ray_env()["RAY_TMPDIR"]) / "fake.yaml"
    config.write_text(dump(render_fake(spec, idle_timeout_minutes=IDLE_MINUTES), ""))
    ray_start(
        "--head", f"--port={GCS_PORT}", f"--autoscaling-config={config}", "--num-cpus=0",
        "--include-dashboard=false", env=ray_env(RAY_FAKE_CLUSTER="1"),
    )  # fmt: skip
    head_up_s = time.monotonic() - T0
    ray.init(address=f"127.0.0.1:{GCS_PORT}", log_to_driver=False)
    assert len(alive_nodes()) == 1, "the head should start alone"

    @ray.remote(num_cpus=0)
    def where() -> str:
        return ray.get_runtime_context().get_node_id()

    # What each stage asks for, and the node type that must come up for it: validation
    # and evaluation items ask for a sandbox slot (StageRunConfig.item_resources, as the shipped
    # job configs do), SFT a whole 8-GPU node, a Serve replica one GPU + serve_replica.
    asks = {
        "gpu-8x": where.options(num_gpus=8),
        "gpu-serve": where.options(num_gpus=1, resources={"serve_replica": 1}),
        "sandbox-cpu": where.options(num_cpus=1, resources={"sandbox": 1}),
    }
    start = time.monotonic()
    refs = {name: ask.remote() for name, ask in asks.items()}
    node_of = {name: ray.get(ref, timeout=120) for name, ref in refs.items()}
    scale_up_s = time.monotonic() - start
    nodes = {n["NodeID"]: n for n in alive_nodes()}
    placed = {}
    for name, node_id in node_of.items():
        res = nodes[node_id]["Resources"]
        want = spec.node_types[name].ray_resources()
        placed[name] = {k: res.get(k, 0) for k in want if k != "CPU"} == {
            k: v for k, v in want.items() if k != "CPU"
        }
    peak = len(nodes)
    start = time.monotonic()
    scale_down_s = wait_for(lambda: len(alive_nodes()) == 1, 120, "idle nodes to be removed")
    return {
        "peak_nodes": peak,
        "placed_on_matching_type": placed,
        "scale_up_s": round(scale_up_s, 1),
        "scale_down_s": round(scale_down_s, 1),
        "idle_timeout_s": IDLE_MINUTES * 60,
        "final_nodes": len(alive_nodes()),
        "head_start_s": round(head_up_s, 1),
    }


if __name__ == "__main__":
    t0 = time.monotonic()
    try:
        result = main()
    finally:
        t1 = time.monotonic()
        ray_stop()
    result["main_s"] = round(t1 - t0, 1)
    result["stop_s"] = round(time.monotonic() - t1, 1)
    print("RESULT " + json.dumps(result), flush=True)
