"""Attack: read the host through the local sandbox's filesystem (issue 8, item 4).

Before, every top-level host entry was bound read-only: a sandbox read /etc/shadow, /root,
the project checkout (every gold patch), the cache root (other tasks' checkouts, other
sandboxes' workspaces) and could connect to host UNIX sockets. Now the root is built from
an allow-list. These tests LIST what a sandbox sees and compare it with that list, then
aim at the secrets and sockets one by one: each is absent, and nothing on the host changed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from attack_support import accepted, plain_local_env

import swelego_ray
from swelego_ray.envs import EnvBackend, Environment
from swelego_ray.envs.interpreters import venv_prefixes
from swelego_ray.sandbox import _bwrap
from swelego_ray.sandbox.local import LocalSandbox

PROJECT = Path(swelego_ray.__file__).resolve().parents[1]
# /etc as the sandbox sees it: synthesized files, and host files that hold no secret.
ETC_SYNTHESIZED = {"passwd", "group", "hosts", "nsswitch.conf", "mtab"}
ETC_FROM_HOST = [
    *("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl/certs", "ssl/openssl.cnf"),
    *("ca-certificates", "ca-certificates.conf", "pki/tls/certs", "pki/ca-trust/extracted"),
    *("alternatives", "localtime", "timezone", "os-release", "services", "protocols"),
    *("host.conf", "gai.conf", "locale.alias", "mime.types", "magic", "magic.mime"),
    *("fonts", "python3"),
]
SECRETS = [
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh",
    "/etc/machine-id",
    "/etc/hostname",
    "/etc/gitconfig",
    "/etc/ssl/private",
    "/etc/resolv.conf",  # builds only
    "/root/.ssh",
    "/root/.cache",
    "/root/.bash_history",
    "/home",
    "/work",
    "/run",
    "/var/run",
    "/var/lib",
    "/sys",
    "/opt/pypi",
    "/opt/wheels",
]


@pytest.fixture(scope="module")
def view_env(tmp_path_factory) -> Iterator[tuple[EnvBackend, Environment]]:
    yield plain_local_env(tmp_path_factory, "view", python="3.11")


@pytest.fixture
def sandbox(view_env) -> Iterator[LocalSandbox]:
    backend, env = view_env
    with backend.start(env) as sb:
        yield sb


def _lines(sb: LocalSandbox, command: str) -> list[str]:
    result = sb.exec(command)
    assert result.exit_code == 0, result.output
    return sorted(result.output.split())


def _prefixes(sb: LocalSandbox) -> list[Path]:
    return [p for p in venv_prefixes(sb.venv) if not str(p).startswith("/usr/")]


def _expected_top(sb: LocalSandbox) -> set[str]:
    top = {"dev", "etc", "opt", "proc", "testbed", "tmp", "usr", "var"}
    top |= {
        n for n in ("bin", "sbin", "lib", "lib32", "lib64", "libx32") if os.path.lexists(f"/{n}")
    }
    return top | {p.parts[1] for p in _prefixes(sb)}  # where the interpreter lives


def test_root_is_exactly_the_allow_list(sandbox):
    assert set(_lines(sandbox, "ls -A /")) == _expected_top(sandbox)
    assert _lines(sandbox, "ls -A /opt /opt/swelego") == sorted(
        ["/opt:", "/opt/swelego:", "swelego", "venv"]
    )
    assert _lines(sandbox, "ls -A /var") == ["tmp"]
    for prefix in _prefixes(sandbox):  # only the chain of directories down to the prefix
        for parent, child in zip(prefix.parents[::-1][1:], prefix.parts[2:], strict=True):
            assert _lines(sandbox, f"ls -A {parent}") == [child], parent


def test_etc_is_synthesized_with_only_non_secret_host_files(sandbox):
    expected = ETC_SYNTHESIZED | {
        name.split("/")[0] for name in ETC_FROM_HOST if os.path.exists(f"/etc/{name}")
    }
    expected |= {p.name for p in Path("/etc").glob("python3.*")}
    assert set(_lines(sandbox, "ls -A /etc")) == expected
    if Path("/etc/ssl").is_dir():
        assert set(_lines(sandbox, "ls -A /etc/ssl")) <= {"certs", "openssl.cnf"}
    passwd = sandbox.exec("cat /etc/passwd").output
    assert [line.split(":")[0] for line in passwd.splitlines()][:2] == ["root", "nobody"]
    assert "127.0.0.1\tlocalhost" in sandbox.exec("cat /etc/hosts").output


def test_every_readable_file_is_on_the_allow_list(sandbox):
    """find over the whole root (system trees pruned): nothing outside the list."""
    prune = ["/proc", "/usr", "/dev", "/opt/swelego/venv", "/testbed", "/tmp"]
    prune += [str(p) for p in _prefixes(sandbox)]
    prune += [f"/etc/{name}" for name in ETC_FROM_HOST] + ["/etc/python3.*"]
    expr = " -o ".join(f"-path '{p}'" for p in prune)
    found = _lines(sandbox, f"find / \\( {expr} \\) -prune -o -readable -type f -print")
    assert found == sorted(f"/etc/{name}" for name in ETC_SYNTHESIZED - {"mtab"})


@pytest.mark.parametrize("path", SECRETS)
def test_host_secrets_are_absent(sandbox, path):
    result = sandbox.exec(f"ls -d {path}; cat {path}")
    assert result.exit_code != 0 and "No such file or directory" in result.output, result.output


def test_project_cache_and_other_workspaces_are_absent(view_env, sandbox):
    backend, env = view_env
    with backend.start(env) as other:
        other.write_file("/tmp/other-secret", "gold patch\n")
        other.write_file("/testbed/other-edit", "fix\n")
        paths = [
            PROJECT,
            PROJECT / "examples",
            backend.cache_root,
            backend.workspace_root,
            other.root,
            other.root / "tmp" / "other-secret",
            other.lower,  # the built testbed on the host
            Path.home() / ".cache",
        ]
        for path in paths:
            result = sandbox.exec(f"ls -d '{path}'")
            assert result.exit_code != 0, f"{path} visible in the sandbox: {result.output}"
        assert sandbox.exec("cat /tmp/other-secret /testbed/other-edit").exit_code != 0
        assert (other.root / "tmp" / "other-secret").read_text() == "gold patch\n"  # untouched


@contextlib.contextmanager
def _unix_listener(path: str) -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()
        if not path.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def test_host_unix_sockets_are_unreachable(sandbox, tmp_path):
    """Listeners under /tmp, /run and in the abstract namespace: inside, no path to them
    exists and connecting fails; the host listeners see no connection."""
    tag = uuid.uuid4().hex[:8]
    paths = [str(tmp_path / f"s-{tag}.sock"), f"/run/swelego-test-{tag}.sock", f"\0swelego-{tag}"]
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(_unix_listener(p)) for p in paths]
        for path in paths:
            # sanity: the host itself can connect (the listener is real)
            probe = socket.socket(socket.AF_UNIX)
            probe.connect(path)
            probe.close()
            assert accepted(servers[paths.index(path)])
            script = (
                "import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "path = sys.argv[1].replace('@', chr(0), 1)  # @name: abstract\n"
                "try:\n    s.connect(path)\nexcept OSError as e:\n"
                "    print('refused', e.errno)\nelse:\n    print('CONNECTED')\n"
            )
            shown = path.replace("\0", "@")
            if not path.startswith("\0"):
                assert sandbox.exec(f"ls -d '{path}'").exit_code != 0, f"{shown} visible"
            result = sandbox.exec(f"python -c {shlex.quote(script)} {shlex.quote(shown)}")
            # no such path (ENOENT), or for an abstract name, no listener in this netns
            errno = "111" if path.startswith("\0") else "2"
            assert result.output == f"refused {errno}\n", f"{shown}: {result.output}"
        assert not any(accepted(s) for s in servers)  # nothing reached the host


def test_usr_links_are_copied_or_bound_as_the_host_has_them(monkeypatch):
    """Merged-usr hosts get the same symlinks; a host where /bin, /lib... are real
    directories gets them bound read-only (never left out, never writable)."""
    linked = _bwrap._usr_binds()
    for name in ("bin", "lib"):
        if os.path.islink(f"/{name}"):
            assert ["--symlink", os.readlink(f"/{name}"), f"/{name}"] == linked[
                linked.index(f"/{name}") - 2 : linked.index(f"/{name}") + 1
            ]
    monkeypatch.setattr(_bwrap.os.path, "islink", lambda path: False)
    monkeypatch.setattr(_bwrap.os.path, "isdir", lambda path: path in ("/bin", "/lib"))
    assert _bwrap._usr_binds() == [
        *("--ro-bind", "/usr", "/usr"),
        *("--ro-bind", "/bin", "/bin"),
        *("--ro-bind", "/lib", "/lib"),
    ]
