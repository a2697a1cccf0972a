"""`swelego cache`: listing sizes, pruning safely (held states, live owners, ages), the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swelego_ray.cache import parse_kinds, prune, usage
from swelego_ray.cli.cache_cmd import parse_duration, parse_size
from swelego_ray.cli.main import app
from swelego_ray.envs.builder import VenvBuild
from swelego_ray.envs.repos import cached_checkout
from swelego_ray.sandbox._owner import owner_tag
from swelego_ray.sandbox._states import StateStore
from swelego_ray.storage import file_lock

runner = CliRunner()
DAY = 86400.0
DEAD_OWNER = "999999999-1"  # no such pid: its workspace is stale


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def _state(store: StateStore, tmp: Path, name: str, size: int, days: float):
    work = tmp / f"work-{name}"
    work.mkdir()
    (work / "blob").write_bytes(b"x" * size)
    held = store.publish(name, work, f"note {name}")
    assert held is not None
    _age(held.path / "lock", days)
    return held


@pytest.fixture
def cache(tmp_path: Path):
    """A cache root: 2 old states + 1 held old state + 1 new state, 1 env, 1 checkout,
    one stale and one live workspace directory."""
    root = tmp_path / "cache"
    store = StateStore(root / "start-states", cap_bytes=2**30)
    for name, days in (("old1", 10), ("old2", 9), ("new", 0)):
        _state(store, tmp_path, name, 10_000, days).release()
    held = _state(store, tmp_path, "held", 10_000, 8)  # stays held: a running sandbox
    env = root / "envs" / "k1"
    (env / "testbed").mkdir(parents=True)
    (env / "venv" / "bin").mkdir(parents=True)
    (env / "venv" / "bin" / "python").write_bytes(b"p" * 50_000)
    built = VenvBuild(key="k1", root=env, commit="a" * 40, head="a" * 40)
    (env / "READY").write_text(built.model_dump_json())
    _age(env / "READY", 20)
    repo = tmp_path / "src"
    repo.mkdir()
    (repo / "f.txt").write_text("hello\n")
    checkout = cached_checkout("acme/calc", str(repo), "", root)
    _age(checkout, 20)
    stale = root / "sandboxes" / DEAD_OWNER / "abc"
    stale.mkdir(parents=True)
    (stale / "file").write_bytes(b"w" * 20_000)
    _age(stale.parent, 8)
    yield root, held
    held.release()


def _by_name(entries):
    return {(e.kind, e.name): e for e in entries}


def test_usage_lists_every_kind_with_sizes(cache):
    root, _held = cache
    entries = _by_name(usage(root))
    states = {name for kind, name in entries if kind == "state"}
    assert states == {"old1", "old2", "new", "held"}
    assert entries[("state", "old1")].bytes >= 10_000
    assert entries[("state", "held")].busy == "held by a running sandbox"
    assert entries[("state", "old1")].busy == ""
    assert entries[("env", "k1")].bytes >= 50_000
    assert [k for k, n in entries if k == "checkout"] == ["checkout"]
    assert entries[("workspace", DEAD_OWNER)].bytes >= 20_000
    assert entries[("workspace", DEAD_OWNER)].busy == ""
    assert entries[("state", "old1")].last_used < time.time() - 9 * DAY


def test_dry_run_removes_nothing(cache):
    root, _held = cache
    before = sorted((e.kind, e.name) for e in usage(root))
    summary = prune(root, dry_run=True)
    assert summary.removed == {"state": 3, "env": 1, "checkout": 1, "workspace": 1}
    assert sorted((e.kind, e.name) for e in usage(root)) == before
    assert [(e.name, why) for e, why in summary.skipped] == [("held", "held by a running sandbox")]


def test_prune_honours_older_than_and_never_a_held_state(cache):
    root, held = cache
    summary = prune(root, kinds=["state", "workspace"], older_than_s=7 * DAY)
    assert summary.removed == {"state": 2, "workspace": 1}
    assert summary.removed_bytes["state"] >= 20_000
    left = _by_name(usage(root))
    assert {n for k, n in left if k == "state"} == {"new", "held"}
    assert not (root / "sandboxes" / DEAD_OWNER).exists()
    assert ("env", "k1") in left  # not a selected kind
    assert held.layer.is_dir() and (held.layer / "blob").is_file()
    reasons = {e.name: why for e, why in summary.skipped}
    assert reasons == {
        "new": "used more recently than --older-than",
        "held": "held by a running sandbox",
    }
    # released, the state goes on the next prune
    held.release()
    assert prune(root, kinds=["state"], older_than_s=7 * DAY).removed == {"state": 1}


def test_keep_bytes_removes_least_recently_used_first(cache):
    root, _held = cache
    summary = prune(root, kinds=["state"], keep_bytes=35_000)
    assert summary.removed == {"state": 2}  # old1, old2 (10, 9 days); held can't go
    assert {n for k, n in _by_name(usage(root)) if k == "state"} == {"new", "held"}


def test_envs_and_checkouts_wait_for_live_sandboxes_and_builds(cache):
    root, _held = cache
    live = root / "sandboxes" / owner_tag()  # this process "has sandboxes" on the cache
    live.mkdir(parents=True)
    summary = prune(root, kinds=["env", "checkout", "workspace"])
    assert summary.removed == {"workspace": 1}  # only the dead owner's
    reasons = {(e.kind, why.split(" (")[0]) for e, why in summary.skipped}
    assert reasons == {
        ("env", "sandbox processes alive on this cache"),
        ("checkout", "sandbox processes alive on this cache"),
        ("workspace", "owner process alive"),
    }
    live.rmdir()
    with file_lock(root / "envs" / ".k1.lock"):  # a build of k1 in progress
        summary = prune(root, kinds=["env", "checkout"])
    assert summary.removed == {"checkout": 1}
    assert [(e.name, why) for e, why in summary.skipped] == [("k1", "being built (lock held)")]
    assert prune(root, kinds=["env"]).removed == {"env": 1}
    assert not (root / "envs" / "k1").exists()
    assert not [p for p in (root / "envs").iterdir() if p.name.startswith(".trash-")]


def test_parsers_name_the_bad_item():
    assert parse_duration("7d") == 7 * DAY and parse_duration("90") == 90
    assert parse_size("20G") == 20 * 2**30 and parse_size("500MiB") == 500 * 2**20
    assert parse_kinds(["env,state", "all"]) == ["env", "state", "checkout", "workspace"]
    with pytest.raises(ValueError, match="'7x' is not a duration"):
        parse_duration("7x")
    with pytest.raises(ValueError, match="unknown kind 'envs'"):
        parse_kinds(["envs"])


def test_cli_list_and_prune(cache):
    root, _held = cache
    listed = runner.invoke(app, ["cache", "list", "--cache-root", str(root), "--json"])
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.output)
    assert len(doc["entries"]) == 7 and doc["total_bytes"]["all"] >= 120_000
    table = runner.invoke(app, ["cache", "list", "--cache-root", str(root)])
    assert table.exit_code == 0 and "in 7 entries" in table.output and "held" in table.output
    argv = ["cache", "prune", "--cache-root", str(root), "--kind", "state", "--older-than", "7d"]
    dry = runner.invoke(app, [*argv, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["removed"] == {"state": 2}
    assert len(usage(root)) == 7
    real = runner.invoke(app, argv)
    assert real.exit_code == 0 and "removed 2 entries" in real.output
    assert len(usage(root)) == 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--kind", "envs"], "--kind: unknown kind 'envs'"),
        (["--older-than", "a week"], "--older-than: 'a week' is not a duration"),
        (["--keep", "lots"], "--keep: 'lots' is not a size"),
    ],
)
def test_cli_rejects_bad_flags(cache, extra, message):
    root, _held = cache
    result = runner.invoke(app, ["cache", "prune", "--cache-root", str(root), *extra])
    assert result.exit_code == 2 and message in result.output
    assert len(usage(root)) == 7


def test_cli_entry_point_missing_root(tmp_path: Path):
    swelego = Path(__file__).parents[2] / ".venv" / "bin" / "swelego"
    proc = subprocess.run(
        [str(swelego), "cache", "list", "--cache-root", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_HOST": ""},
    )
    assert proc.returncode == 2 and "no such directory" in proc.stderr
