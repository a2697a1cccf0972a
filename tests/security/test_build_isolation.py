"""Attacks from an environment build (local backend; issue 8, items 1, 4 and 6).

A build runs a repository's own setup code. Before, builds shared the host network (they
reached a listener on the host's loopback), saw the host's filesystem read-only, and
wrote into the host's ~/.cache/uv and ~/.cache/pip that every other build reads; and with
the project checked out under /tmp the uv binary was invisible in the build sandbox, so
every uv step fell back to pip without the `exclude_newer` cutoff. Each case below is a
build step doing the attack (or the situation), run by the builder's own step runner:
it is contained, the builder says why where it refuses, and nothing on the host changed.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from attack_support import accepted

from swelego_ray.envs import EnvBuildError, Environment, EnvSpec, find_interpreter, resolution
from swelego_ray.envs import builder as builder_mod
from swelego_ray.envs.builder import UV_IN_SANDBOX, EnvBuilder
from swelego_ray.envs.interpreters import interpreter_prefixes
from swelego_ray.sandbox import _bwrap
from swelego_ray.sandbox._netns import host_addresses

PYTHON = "3.11"


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "PATH": "/usr/bin:/bin"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}
    run = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return run.stdout.decode().strip()


@pytest.fixture
def builder(tmp_path) -> EnvBuilder:
    return EnvBuilder(tmp_path / "cache", step_timeout_s=120)


@pytest.fixture
def env(tmp_path) -> Environment:
    spec = EnvSpec(python=PYTHON, install=[])
    return Environment(repo="o/r", commit="a" * 40, source=str(tmp_path), spec=spec)


def _work(root: Path) -> Path:
    for part in ("testbed", "venv", "tmp"):
        (root / part).mkdir(parents=True)
    return root


@contextlib.contextmanager
def _tcp_listener(host: str) -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind((host, 0))
    server.listen(8)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()


def _probe(targets: list[tuple[str, int]]) -> str:
    """Shell that tries a TCP connection to each target and prints `host:port open|closed`."""
    lines = [
        f"if timeout 5 bash -c 'exec 3<>/dev/tcp/{h}/{p}' 2>/dev/null; "
        f"then echo {h}:{p} open; else echo {h}:{p} closed; fi"
        for h, p in targets
    ]
    return "\n".join(lines)


def test_build_cannot_reach_host_services(builder, env, tmp_path):
    """Listeners on the host's 127.0.0.1 and on all addresses (0.0.0.0: the host's eth0
    address too) stay unreachable by any route: direct, slirp's host alias 10.0.2.2, and
    cloud metadata."""
    addresses = host_addresses()
    assert addresses, "this host has no non-loopback IPv4 address to test with"
    with _tcp_listener("127.0.0.1") as loopback, _tcp_listener("0.0.0.0") as everywhere:
        lo_port, all_port = loopback.getsockname()[1], everywhere.getsockname()[1]
        targets = [("127.0.0.1", lo_port), ("10.0.2.2", lo_port), ("10.0.2.2", all_port)]
        targets += [(addr, all_port) for addr in addresses] + [("169.254.169.254", 80)]
        # sanity: from the host, both listeners are reachable
        for host, port in [targets[0], (addresses[0], all_port)]:
            socket.create_connection((host, port), timeout=5).close()
        assert accepted(loopback) and accepted(everywhere)
        result = builder._run(env, _work(tmp_path / "w"), _probe(targets))
        assert result.exit_code == 0, result.output
        assert result.output.split("\n")[:-1] == [f"{h}:{p} closed" for h, p in targets]
        assert not accepted(loopback) and not accepted(everywhere)  # nothing arrived
    routes = builder._run(env, _work(tmp_path / "r"), "ip route del blackhole " + addresses[0])
    assert routes.exit_code != 0 and "not permitted" in routes.output  # cannot undo them


def test_build_sees_the_allow_list_only(builder, env, tmp_path):
    """The build sandbox's root is the same allow-list as a test sandbox's, plus uv and
    the build's resolv.conf; no host secret, socket directory or other build."""
    other = _work(tmp_path / "other-build")
    (other / "tmp" / "secret").write_text("another build's file\n")
    script = (
        "ls -A /; echo --; ls -A /opt/swelego; echo --; ls -A /opt/swelego/bin; echo --; "
        "cat /etc/resolv.conf; echo --; "
        f"for p in /etc/shadow /root/.cache /home /work /run /var/run /sys {other}; do "
        'ls -d "$p" >/dev/null 2>&1 && echo "VISIBLE $p"; done; echo end'
    )
    result = builder._run(env, _work(tmp_path / "w"), script)
    assert result.exit_code == 0, result.output
    top, opt, tools, resolv, rest = result.output.split("--\n")
    expected = {"dev", "etc", "opt", "proc", "testbed", "tmp", "usr", "var"}
    expected |= {
        n for n in ("bin", "sbin", "lib", "lib32", "lib64", "libx32") if os.path.lexists(f"/{n}")
    }
    expected |= {
        p.parts[1] for p in interpreter_prefixes(find_interpreter(PYTHON)) if p.parts[1] != "usr"
    }
    assert set(top.split()) == expected
    assert opt.split() == ["bin", "venv"] and tools.split() == ["uv"]
    assert resolv.strip() == "nameserver 10.0.2.3"
    assert rest.strip() == "end"  # nothing of the list was visible


def test_one_build_cannot_poison_another(builder, env, tmp_path):
    """A build writes into every package cache it can find; the next build sees none of
    it and the host's own caches are unchanged."""
    host_caches = [Path.home() / ".cache" / "uv", Path.home() / ".cache" / "pip"]
    before = {str(c): sorted(os.listdir(c)) if c.is_dir() else None for c in host_caches}
    poison = (
        'for d in "$UV_CACHE_DIR" "$PIP_CACHE_DIR" "$XDG_CACHE_HOME"; do '
        'mkdir -p "$d/poison" && echo evil > "$d/poison/wheel"; done; '
        f"for d in {' '.join(map(str, host_caches))}; do "
        'mkdir -p "$d/poison" 2>/dev/null && echo "WROTE $d"; done; echo "$UV_CACHE_DIR"'
    )
    first = _work(tmp_path / "a")
    result = builder._run(env, first, poison)
    assert result.exit_code == 0 and "WROTE" not in result.output, result.output
    assert result.output.strip().endswith("/tmp/.cache/uv")  # inside the build's own /tmp
    assert (first / "tmp" / ".cache" / "uv" / "poison" / "wheel").is_file()
    look = 'ls -A "$UV_CACHE_DIR" "$PIP_CACHE_DIR" "$XDG_CACHE_HOME" 2>&1; echo end'
    second = builder._run(env, _work(tmp_path / "b"), look)
    assert "poison" not in second.output and second.output.strip().endswith("end")
    after = {str(c): sorted(os.listdir(c)) if c.is_dir() else None for c in host_caches}
    assert after == before


def test_a_uv_that_cannot_run_is_an_error_naming_uv_not_a_pip_fallback(
    builder, env, tmp_path, monkeypatch
):
    broken = tmp_path / "uv"
    broken.write_text("not a program\n")  # bound at UV_IN_SANDBOX, not executable there
    broken.chmod(0o644)
    monkeypatch.setattr(builder_mod, "uv_bin", lambda: str(broken))
    work = _work(tmp_path / "w")
    steps = {name: (cmd, fb) for name, cmd, fb in builder._steps(env, find_interpreter(PYTHON))}
    assert steps["venv"][0].startswith(f"{UV_IN_SANDBOX} venv")
    log = io.StringIO()
    with pytest.raises(EnvBuildError, match=r"uv .* could not run in the build sandbox"):
        builder._step(env, work, log, "venv", *steps["venv"])
    assert "(fallback)" not in log.getvalue()  # pip never ran in its place
    assert not (work / "venv" / "bin").exists()


def test_uv_missing_on_the_host_is_an_error_naming_uv(monkeypatch):
    import uv

    monkeypatch.setattr(uv, "find_uv_bin", lambda: (_ for _ in ()).throw(FileNotFoundError()))
    monkeypatch.setattr(resolution.shutil, "which", lambda name: None)
    with pytest.raises(EnvBuildError, match=r"uv is required .* `pip install uv`"):
        resolution.uv_bin()


def test_missing_slirp4netns_is_an_error_naming_it(builder, env, tmp_path, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(
        _bwrap.shutil,
        "which",
        lambda name, **kw: None if name == "slirp4netns" else real_which(name, **kw),
    )
    _bwrap._netns_prefix.cache_clear()
    try:
        with pytest.raises(
            EnvBuildError, match=r"slirp4netns is required .*`apt-get install slirp4netns`"
        ):
            builder._run(env, _work(tmp_path / "w"), "true")
    finally:
        _bwrap._netns_prefix.cache_clear()


def test_a_failed_step_keeps_and_shows_the_real_error(builder, env, tmp_path):
    """No build.log in the work dir (the step runner used alone): the error is still the
    step's own, and the log is kept beside the cache entry."""
    log = io.StringIO()
    with pytest.raises(EnvBuildError) as caught:
        builder._step(
            env, _work(tmp_path / "w"), log, "install[0]", "echo the-real-error >&2; exit 3", None
        )
    text = str(caught.value)
    assert "step install[0] failed (exit 3)" in text and "the-real-error" in text
    kept = Path(text.split("log: ")[1].split("\n")[0])
    assert "the-real-error" in kept.read_text()


def _pypi_reachable() -> str:
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError as err:
        return str(err)
    return ""


def test_build_with_uv_under_tmp_downloads_under_the_cutoff(tmp_path, monkeypatch):
    """Issue 8 item 6: the project (so its uv) under /tmp, which the build sandbox mounts
    privately. uv is bound at its fixed path, so the build's uv steps run (no pip fallback)
    and the cutoff holds: six 1.16.0 (May 2021) does not exist before 2021-01-01. The
    packages come from PyPI through the build network."""
    why = _pypi_reachable()
    if why:
        pytest.skip(f"PyPI unreachable from this host ({why}): the download half NOT tested")
    uv_copy = tmp_path / "project" / ".venv" / "bin" / "uv"
    uv_copy.parent.mkdir(parents=True)
    shutil.copy2(resolution.uv_bin(), uv_copy)
    assert str(uv_copy).startswith("/tmp/")
    monkeypatch.setattr(builder_mod, "uv_bin", lambda: str(uv_copy))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("x\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "c")
    spec = EnvSpec(
        python=PYTHON, packages=["six"], install=[], exclude_newer="2021-01-01T00:00:00Z"
    )
    env = Environment(
        repo="o/six", commit=_git(repo, "rev-parse", "HEAD"), source=str(repo), spec=spec
    )
    built = EnvBuilder(tmp_path / "cache").ensure(env)
    log = built.log.read_text()
    assert "(fallback)" not in log and f"{UV_IN_SANDBOX} pip install" in log
    site = next((built.venv / "lib").glob("python*/site-packages"))
    six = [p.name for p in site.glob("six-*.dist-info")]
    assert six == ["six-1.15.0.dist-info"]  # the newest release before the cutoff


def test_only_configured_loopback_index_ports_are_relayed():
    host_env = {
        "UV_INDEX": "mirror=http://localhost:3141/simple other=https://pypi.org/simple",
        "PIP_INDEX_URL": "http://127.0.0.1:8080/simple",
        "PIP_EXTRA_INDEX_URL": "https://10.1.2.3:9000/simple",  # not the host's loopback
        "HTTPS_PROXY": "http://127.0.0.1",  # default port
        "PIP_DEFAULT_TIMEOUT": "127.0.0.1:5",  # not an index setting
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    }
    assert builder_mod.loopback_ports(host_env) == [80, 3141, 8080]


def test_a_local_index_the_host_configured_is_visible_read_only(
    builder, env, tmp_path, monkeypatch
):
    """A wheel directory named by the host's own PIP_FIND_LINKS (an offline wheelhouse,
    e.g. under /opt) is bound read-only into builds; one not named stays out."""
    wheels, unnamed = tmp_path / "wheels", tmp_path / "unnamed"
    for d in (wheels, unnamed):
        d.mkdir()
        (d / "tiny-1.0-py3-none-any.whl").write_text("not really a wheel\n")
    monkeypatch.setenv("PIP_FIND_LINKS", f"file://{wheels} /does/not/exist")
    script = f"ls {wheels}; touch {wheels}/planted || echo READ-ONLY; ls {unnamed} || echo HIDDEN"
    result = builder._run(env, _work(tmp_path / "w"), script)
    assert "tiny-1.0-py3-none-any.whl" in result.output
    assert "READ-ONLY" in result.output and "HIDDEN" in result.output
    assert not (wheels / "planted").exists()
