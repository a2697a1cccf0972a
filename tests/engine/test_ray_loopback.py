"""A local Ray started by the project listens on loopback only (Ray 2.60 otherwise swaps a
given 127.0.0.1 for the machine's address: gcs_server, raylet and agents listened on eth0
or on all interfaces)."""

from __future__ import annotations

import ipaddress

import psutil


def test_every_ray_process_of_a_local_start_listens_on_loopback(ray_local):
    ray_local.get(ray_local.remote(lambda: 1).remote())  # a worker process too
    ours = {p.pid: p.name() for p in psutil.Process().children(recursive=True)}
    listening = [
        (ours[c.pid], c.laddr.ip)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in ours
    ]
    names = {name for name, _ in listening}
    assert any("gcs_server" in n for n in names) and any("raylet" in n for n in names)
    outside = [
        (name, ip)
        for name, ip in listening
        if not ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback
    ]
    assert outside == [], outside
    node_ips = {n["NodeManagerAddress"] for n in ray_local.nodes() if n["Alive"]}
    assert node_ips == {"127.0.0.1"}
