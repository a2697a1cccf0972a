"""The local backend's isolation and limits, exercised for real in bubblewrap."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from swelego_ray.envs import get_backend
from swelego_ray.sandbox import Limits, SandboxError, _bwrap


def _processes_with(arg: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if arg.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_get_backend_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: docker, local"):
        get_backend("kubernetes")


def test_describe_names_the_active_isolation(local_backend):
    text = local_backend.describe()
    assert "network off" in text and "read-only root" in text and "bubblewrap" in text
    assert local_backend.mode in text or "OverlayFS" in text or "copy" in text


def test_missing_bwrap_is_an_error_with_install_hint(monkeypatch, sandbox_cache):
    monkeypatch.setattr(_bwrap.shutil, "which", lambda name: None)
    _bwrap.bwrap_path.cache_clear()
    try:
        with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
            get_backend("local", cache_root=sandbox_cache)
    finally:
        _bwrap.bwrap_path.cache_clear()


def test_exec_runs_in_testbed_with_the_venv(sandbox):
    result = sandbox.exec('pwd; echo "$HOME"; command -v python; echo "$SWELEGO_TEST_VAR"; id -u')
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["/testbed", "/tmp", "/opt/swelego/venv/bin/python", "42", "0"]
    assert sandbox.exec("exit 7").exit_code == 7
    assert sandbox.exec("echo $X", env={"X": "y"}).output == "y\n"
    assert sandbox.read_file("pkg/mod.py") == "VALUE = 2\n"


def test_deadline_kills_the_whole_process_tree(sandbox):
    started = time.monotonic()
    result = sandbox.exec("sleep 1000.25 & (sleep 1000.5 &) ; sleep 1000.75", timeout_s=1)
    assert result.timed_out and time.monotonic() - started < 10
    time.sleep(0.2)
    for arg in ("1000.25", "1000.5", "1000.75"):
        assert _processes_with(arg) == []
    assert sandbox.exec("echo alive").output == "alive\n"  # the sandbox stays usable


def test_network_is_off(sandbox):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        probe = (
            "import socket, time\n"
            f"for addr in [('127.0.0.1', {port}), ('10.255.255.1', 80)]:\n"
            "    t = time.monotonic()\n"
            "    try:\n"
            "        socket.create_connection(addr, timeout=3); print('CONNECTED', addr)\n"
            "    except OSError as e:\n"
            "        print(type(e).__name__, e.errno, round(time.monotonic() - t, 2))\n"
        )
        result = sandbox.exec(f'python -c "{probe}"', timeout_s=20)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing reached the host's server
    lines = result.output.splitlines()
    assert "CONNECTED" not in result.output
    assert lines[0].startswith("ConnectionRefusedError")  # its own loopback: no listener
    assert lines[1].startswith("OSError 101")  # network unreachable: only lo exists
    assert all(float(line.split()[-1]) < 1.0 for line in lines)  # failed at once


def test_memory_hog_is_stopped(local_backend, plain_env):
    with local_backend.start(plain_env, Limits(memory_mb=300)) as sb:
        result = sb.exec("python -c 'x = b\"x\" * (2 << 30); print(len(x))'")
        assert result.exit_code != 0 and result.oom, result
        assert "MemoryError" in result.output  # RLIMIT_AS: the allocation fails at once
        assert sb.exec("echo still usable").output == "still usable\n"


def test_memory_cgroup_caps_the_sandbox_total(local_backend, plain_env):
    if "cgroup" not in local_backend.memory_mode:
        pytest.skip("no writable memory cgroup on this host (RLIMIT_AS only)")
    hog = "python -c 'import time; x = b\"x\" * (200 << 20); time.sleep(5)'"
    with local_backend.start(plain_env, Limits(memory_mb=300, timeout_s=30)) as sb:
        result = sb.exec(f"{hog} & {hog} & wait")  # each below RLIMIT_AS, together above
        assert result.oom, result
        assert "out of memory (limit 300 MiB)" in result.output


def test_pids_limit(local_backend, plain_env):
    if not local_backend.pids_mode.startswith("cgroup"):
        pytest.skip("pids cgroup not writable on this host; RLIMIT_NPROC is best-effort")
    with local_backend.start(plain_env, Limits(pids=40)) as sb:
        result = sb.exec("for i in $(seq 100); do sleep 2 & done 2>&1; wait", timeout_s=20)
        assert "fork" in result.output or "Resource temporarily unavailable" in result.output


def test_writes_outside_the_workspace_fail(sandbox, plain_env, local_backend):
    attempts = [
        "touch /etc/swelego-escape",
        "touch /swelego-escape",
        "touch /opt/swelego/venv/swelego-escape",
        f"touch {local_backend.cache_root}/swelego-escape",
        "mount -o remount,rw,bind /etc && touch /etc/swelego-escape",
    ]
    for command in attempts:
        assert sandbox.exec(command).exit_code != 0, command
    assert not Path("/etc/swelego-escape").exists()
    assert not (local_backend.cache_root / "swelego-escape").exists()
    with pytest.raises(PermissionError):
        sandbox.write_file("/etc/swelego-escape", "x")
    assert sandbox.exec("touch /tmp/ok && touch /testbed/ok").exit_code == 0


def test_output_cap_keeps_head_and_tail(local_backend, plain_env):
    with local_backend.start(plain_env, Limits(output_bytes=1000)) as sb:
        result = sb.exec("echo START; head -c 200000 /dev/zero | tr '\\0' x; echo; echo END")
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("START") and result.output.rstrip().endswith("END")
    assert len(result.output) < 1100 and "bytes of output cut" in result.output


def test_workspaces_are_isolated_from_each_other_and_the_cache(local_backend, plain_env):
    built = local_backend.builder.cached(plain_env)
    with local_backend.start(plain_env) as a, local_backend.start(plain_env) as b:
        a.write_file("pkg/mod.py", "VALUE = 'a'\n")
        a.exec("rm README.md && echo new > new.txt")
        assert b.read_file("pkg/mod.py") == "VALUE = 2\n"
        assert b.exec("cat README.md; ls new.txt").exit_code != 0
    assert (built.testbed / "pkg" / "mod.py").read_text() == "VALUE = 2\n"
    assert (built.testbed / "README.md").exists() and not (built.testbed / "new.txt").exists()


def test_diff_shows_text_changes_only(sandbox):
    assert sandbox.diff() == ""
    sandbox.write_file("pkg/mod.py", "VALUE = 3\n")
    sandbox.write_file("pkg/new.py", "NEW = True\n")
    sandbox.exec("printf '\\000\\001' > data.bin && printf '\\000\\002' > blob.bin")
    sandbox.exec("python -c 'import pkg.mod' && mkdir -p .pytest_cache && touch .pytest_cache/x")
    diff = sandbox.diff()
    assert "+VALUE = 3" in diff and "+NEW = True" in diff
    assert "data.bin" not in diff and "blob.bin" not in diff and "pytest_cache" not in diff


def test_start_at_another_commit_uses_that_checkout(local_backend, plain_env):
    from swelego_ray.envs import resolve_commit

    first = resolve_commit(plain_env.source, "HEAD~1")
    with local_backend.start(plain_env, commit=first) as sb:
        assert sb.read_file("README.md") == "v1\n"
        assert sb.exec("git rev-parse HEAD").output.strip() == first
        assert sb.diff() == ""
    built = local_backend.builder.cached(plain_env)
    with local_backend.start(plain_env, commit=plain_env.commit[:10]) as sb:
        assert sb.lower == built.testbed  # the environment's own commit: its built testbed


def test_close_kills_and_cleans_up(local_backend, plain_env):
    sb = local_backend.start(plain_env)
    sb.exec("echo hi > /tmp/x")
    root = sb.root
    assert root.is_dir()
    sb.close()
    sb.close()  # twice is fine
    assert not root.exists()
    with pytest.raises(SandboxError, match="closed"):
        sb.exec("true")


def test_stale_workspaces_of_dead_processes_are_swept(local_backend, plain_env, tmp_path):
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from swelego_ray.envs import backends\n"
        "from swelego_ray.envs import Environment\n"
        "env = Environment.model_validate_json(sys.argv[2])\n"
        "sb = backends.local_backend(cache_root=sys.argv[1]).start(env)\n"
        "print(sb.root, flush=True)\n"
        "os._exit(1)  # a crash: no close(), no atexit\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(local_backend.cache_root), plain_env.model_dump_json()],
        capture_output=True,
        text=True,
    )
    orphan = Path(out.stdout.strip())
    assert orphan.is_dir(), out.stderr
    from swelego_ray.sandbox._workspaces import sweep_stale

    assert sweep_stale(local_backend.workspace_root) >= 1
    assert not orphan.parent.exists()
    mine = local_backend.workspace_root / f"{os.getpid()}-"
    assert any(p.name.startswith(mine.name) for p in local_backend.workspace_root.iterdir())


def test_sandbox_processes_die_with_a_crashed_caller(local_backend, plain_env):
    import subprocess
    import sys

    script = (
        "import os, sys, threading, time\n"
        "from swelego_ray.envs import backends\n"
        "from swelego_ray.envs import Environment\n"
        "env = Environment.model_validate_json(sys.argv[2])\n"
        "sb = backends.local_backend(cache_root=sys.argv[1]).start(env)\n"
        "threading.Thread(target=sb.exec, args=('sleep 1000.875',), daemon=True).start()\n"
        "time.sleep(1.5)\n"
        "print('running', flush=True)\n"
        "os._exit(1)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(local_backend.cache_root), plain_env.model_dump_json()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "running" in out.stdout, out.stderr
    deadline = time.monotonic() + 5
    while _processes_with("1000.875") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with("1000.875") == []


def test_local_sandbox_satisfies_the_protocol(sandbox):
    from swelego_ray.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)


def test_unknown_backend_option_is_rejected(sandbox_cache):
    with pytest.raises(ValueError, match="workspce"):
        get_backend("local", cache_root=sandbox_cache, workspce="copy")


def test_without_cgroups_rlimits_are_set(monkeypatch, sandbox_cache, plain_env):
    from swelego_ray.envs import backends
    from swelego_ray.sandbox import _cgroups, local

    monkeypatch.setattr(_cgroups, "cgroup_root", lambda controller: None)
    monkeypatch.setattr(local, "cgroup_root", lambda controller: None)
    backend = backends.local_backend(cache_root=sandbox_cache)
    assert backend.pids_mode == "RLIMIT_NPROC (best effort)"
    assert "no memory cgroup" in backend.memory_mode
    with backend.start(plain_env, Limits(pids=77, memory_mb=1000)) as sb:
        assert sb.exec("ulimit -u; ulimit -v").output.split() == ["77", str(1000 * 1024)]


def test_copy_workspace_mode_is_isolated_too(sandbox_cache, plain_env):
    from swelego_ray.envs import backends

    backend = backends.local_backend(cache_root=sandbox_cache, workspace="copy")
    assert backend.mode == "copy" and "copy" in backend.describe()
    built = backend.builder.ensure(plain_env)
    with backend.start(plain_env) as sb:
        sb.write_file("pkg/mod.py", "VALUE = 'copy'\n")
        assert "+VALUE = 'copy'" in sb.diff()
        assert sb.exec("mv pkg pkg2 && ls pkg2").exit_code == 0  # plain directories rename
    assert (built.testbed / "pkg" / "mod.py").read_text() == "VALUE = 2\n"


def test_read_file_errors(sandbox):
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        sandbox.read_file("missing.txt")
    sandbox.write_file("/tmp/scratch/deep/note.txt", "note")
    assert sandbox.read_file("/tmp/scratch/deep/note.txt") == "note"
