"""Attack: reserve disk space without writing it. `fallocate` takes up to the per-file limit
(RLIMIT_FSIZE) at once, so a loop over many files could reserve hundreds of GB between two
checks of the disk watchdog. Contained by seccomp on both backends (sandbox/_seccomp.py):
fallocate, the ioctls that reach the same code (FS_IOC_RESVSP*), 32-bit calls of them
and io_uring fail with the reason in the command's output, space is only taken by writes
(glibc's posix_fallocate falls back to them, the disk limit sees them), and after close
the host holds nothing of it."""

from __future__ import annotations

import errno
import json
import platform
import struct
import time
from pathlib import Path

import pytest
from attack_support import plain_local_env
from docker_fixtures import deterministic_repo, docker_backend, two_commit_env  # noqa: F401

from swelego_ray.envs import EnvBackend, Environment
from swelego_ray.sandbox import Limits, SandboxError
from swelego_ray.sandbox import _seccomp as sc
from swelego_ray.sandbox._disk import tree_usage
from swelego_ray.sandbox._docker_engine import seccomp_security_opt

LIMIT_MB = 64
X86_64 = platform.machine() == "x86_64"
# Reservations below the per-file limit, on many files: without the filter, 40 x 60 MiB
# would be held at once (2.4 GB), long before a watchdog check.
FALLOCATE_LOOP = (
    "n=0; for i in $(seq 40); do fallocate -l 60M {dir}/f$i 2>>/tmp/err || n=$((n+1)); done;"
    ' echo "failed=$n"; sort /tmp/err | uniq -c; du -sk {dir}'
)
PROBE = r"""
import ctypes, fcntl, mmap, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
what, where = sys.argv[1], sys.argv[2]

def report(name, rc):
    err = ctypes.get_errno() if rc == -1 else (-rc if rc < 0 else 0)
    print(f"{name}: {os.strerror(err) if err else 'ok'}", flush=True)

def held(paths):
    return sum(os.stat(p).st_blocks * 512 for p in paths) >> 20

paths = [f"{where}/p{i}" for i in range(40)]
if what == "raw":  # glibc's fallocate(): the system call, no fallback
    for p in paths:
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        report("fallocate", libc.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(60 << 20)))
elif what == "ioctl":  # FS_IOC_RESVSP64, FS_IOC_RESVSP, FS_IOC_ZERO_RANGE; high bits set too
    for i, p in enumerate(paths):
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        cmd = (0x4030582A, 0x40305828, 0x40305839)[i % 3] | (0xDEAD << 32 if i % 2 else 0)
        buf = ctypes.create_string_buffer(struct.pack("@hhqqII16x", 0, 0, 0, 60 << 20, 0, 0))
        report("resvsp", libc.syscall(16, fd, ctypes.c_ulong(cmd), buf))
elif what == "i386":  # fallocate through int 0x80 (the i386 ABI, number 324)
    # push rbx, rbp; ebx = fd; edi = length; eax = 324; ecx = edx = esi = ebp = 0;
    # int 0x80; pop rbp, rbx; ret
    code = bytes.fromhex("5355 89fb 89f7 b844010000 31c9 31d2 31f6 31ed cd80 5d5b c3")
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    call = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_uint)(
        ctypes.addressof(ctypes.c_char.from_buffer(page)))
    for p in paths:
        report("i386 fallocate", call(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644), 60 << 20))
elif what == "uring":  # io_uring's IORING_OP_FALLOCATE would bypass the filter
    paths = []
    report("io_uring_setup", libc.syscall(425, 8, ctypes.create_string_buffer(120)))
elif what == "posix":  # posix_fallocate writes instead; a loop of it meets the disk limit
    for p in paths:
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        os.posix_fallocate(fd, 0, int(sys.argv[3]) << 20)
        print("posix_fallocate: ok", os.fstat(fd).st_blocks * 512 >> 20, "MiB", flush=True)
print("held", held([p for p in paths if os.path.exists(p)]), "MiB")
"""
ATTACKS = {  # probe mode: the reason the output must give
    "raw": "fallocate: Operation not supported",
    "ioctl": "resvsp: Operation not supported",
    "uring": "io_uring_setup: Function not implemented",
}
if X86_64:
    ATTACKS["i386"] = "i386 fallocate: Operation not supported"
NORMAL = (
    "git status --short && git log --oneline | wc -l && pip --version && "
    "python -c 'import sqlite3, tempfile; print(sum(range(10)))' && echo normal-ok"
)


# -- the programs themselves ---------------------------------------------------------------
def _run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """A classic-BPF interpreter for the three instructions the program uses."""
    padded = (*args, *(0,) * (6 - len(args)))
    data = struct.pack("=iIQ6Q", nr, arch, 0, *padded)
    pc = 0
    acc = 0
    while True:
        code, jt, jf, k = struct.unpack_from("=HBBI", program, pc * 8)
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


@pytest.mark.parametrize("abi", sc.ABIS, ids=[a.name for a in sc.ABIS])
def test_program_denies_per_abi(abi: sc.Abi):
    program = sc.build_program()
    eopnotsupp, enosys = sc.RET_ERRNO | errno.EOPNOTSUPP, sc.RET_ERRNO | errno.ENOSYS
    for nr in abi.fallocate:
        assert _run_bpf(program, nr, abi.audit_arch) == eopnotsupp
    for nr in abi.io_uring:
        assert _run_bpf(program, nr, abi.audit_arch) == enosys
    for nr in abi.ioctl:
        for cmd in sc.PREALLOC_IOCTLS:  # the kernel ignores cmd's high 32 bits
            for high in (0, 0xDEAD << 32):
                assert _run_bpf(program, nr, abi.audit_arch, (3, cmd | high)) == eopnotsupp
        assert _run_bpf(program, nr, abi.audit_arch, (0, 0x5401)) == sc.RET_ALLOW  # TCGETS
    for nr in (0, 1, 2, 3, 59, 60, 231, 257):  # read, write, open, close, exec, exit, ...
        if nr not in (*abi.fallocate, *abi.io_uring, *abi.ioctl):
            assert _run_bpf(program, nr, abi.audit_arch) == sc.RET_ALLOW
    # another ABI's fallocate number is not this ABI's fallocate
    other = 285 if abi.name != "x86_64" else 47
    assert _run_bpf(program, other, abi.audit_arch) == sc.RET_ALLOW


def test_program_kills_unknown_abis_and_is_built_once():
    program = sc.build_program()
    assert _run_bpf(program, 0, 0xC0000015) == sc.RET_KILL_PROCESS  # ppc64le: not ours
    assert len(program) % 8 == 0
    if platform.machine() in sc.SUPPORTED_MACHINES:
        assert sc.bpf_program() is sc.bpf_program() and sc.bpf_program() == program


def test_complement_patterns_cover_everything_but_the_denied():
    patterns = sc.complement_patterns(sc.PREALLOC_IOCTLS)
    probes = [*sc.PREALLOC_IOCTLS, 0, 0xFFFFFFFF, 0x5401, 0x40305829, 0x80305828]
    probes += [(i * 2654435761) & 0xFFFFFFFF for i in range(20000)]
    for cmd in probes:
        matches = sum((cmd & mask) == value for mask, value in patterns)
        assert matches == (0 if cmd in sc.PREALLOC_IOCTLS else 1), hex(cmd)


def test_engine_profile_keeps_every_other_rule():
    caps = {"caps": ["CAP_SYS_ADMIN"]}
    base = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [
            {"names": ["read", "fallocate", "ioctl", "io_uring_setup"], "action": "SCMP_ACT_ALLOW"},
            {"name": "fallocate", "action": "SCMP_ACT_ALLOW", "args": []},
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "includes": caps},
            {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        ],
    }
    profile = sc.engine_profile(base)
    rules = profile["syscalls"]
    assert rules[0] == {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    assert rules[1] == base["syscalls"][3] and base["syscalls"][0]["names"][1] == "fallocate"
    by_name = {}
    for rule in rules:
        for name in rule["names"]:
            by_name.setdefault(name, []).append(rule)
    assert [(r["action"], r["errnoRet"]) for r in by_name["fallocate"]] == [
        ("SCMP_ACT_ERRNO", errno.EOPNOTSUPP)
    ]
    assert by_name["io_uring_setup"][0]["errnoRet"] == errno.ENOSYS
    ioctl_allows = [r for r in by_name["ioctl"] if r["action"] == "SCMP_ACT_ALLOW"]
    patterns = len(sc.complement_patterns(sc.PREALLOC_IOCTLS))
    assert len(ioctl_allows) == 2 * patterns  # each allow kept its scope, narrowed
    assert sum(r.get("includes") == caps for r in ioctl_allows) == patterns
    assert all(r["args"] for r in by_name["ioctl"])  # no unconditional ioctl rule is left
    with pytest.raises(ValueError, match="not a seccomp profile"):
        sc.engine_profile({"syscalls": []})


class _DockerEngine:
    """A Docker engine's version answer (none runs here: podman is the engine)."""

    def version(self) -> dict:
        return {"Components": [{"Name": "Engine", "Version": "27.0"}]}


def test_docker_engine_gets_inline_json_or_keeps_its_default_with_a_warning(tmp_path: Path, caplog):
    with caplog.at_level("WARNING"):
        assert seccomp_security_opt(_DockerEngine(), "unix:///x.sock", None, tmp_path) == []
    assert "fallocate not denied" in caplog.text and "seccomp_profile" in caplog.text
    base = tmp_path / "default.json"
    base.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}))
    (option,) = seccomp_security_opt(_DockerEngine(), "unix:///x.sock", base, tmp_path)
    profile = json.loads(option.removeprefix("seccomp="))
    assert any("fallocate" in r["names"] for r in profile["syscalls"])
    base.write_text("{not json")
    with pytest.raises(SandboxError, match=r"default\.json: cannot be used"):
        seccomp_security_opt(_DockerEngine(), "unix:///x.sock", base, tmp_path)


# -- local backend ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_env(tmp_path_factory) -> tuple[EnvBackend, Environment]:
    return plain_local_env(tmp_path_factory, "fallocate")


def _probe(sb, mode: str, where: str, *extra: str):
    sb.write_file("/tmp/probe.py", PROBE)
    return sb.exec(f"python /tmp/probe.py {mode} {where} {' '.join(extra)}")


def test_local_fallocate_fails_and_posix_fallocate_writes(local_env):
    backend, env = local_env
    with backend.start(env) as sb:  # the default limit (4 GiB): 1 GiB is under it
        result = sb.exec("fallocate -l 1G /tmp/f; echo rc=$?; du -k /tmp/f")
        assert "Operation not supported" in result.output and "rc=1" in result.output
        assert "0\t/tmp/f" in result.output and not result.disk_limit, result
        assert (sb.root / "tmp" / "f").stat().st_blocks == 0
        small = _probe(sb, "posix", "/tmp", "1")  # 40 files of 1 MiB, written by glibc
        assert small.exit_code == 0 and small.output.count("posix_fallocate: ok 1 MiB") == 40
        assert "held 40 MiB" in small.output, small


@pytest.mark.parametrize("where", ["/tmp", "/testbed"])
def test_local_fallocate_loop_reserves_nothing(local_env, where):
    backend, env = local_env
    before = tree_usage(backend.cache_root)
    sb = backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60))
    root = sb.root
    try:
        result = sb.exec(FALLOCATE_LOOP.format(dir=where))
        assert "failed=40" in result.output, result
        assert "40 fallocate: fallocate failed: Operation not supported" in result.output
        assert tree_usage(root) < 1 << 20 and not result.disk_limit
    finally:
        sb.close()
    assert not root.exists() and tree_usage(backend.cache_root) < before + (1 << 20)


@pytest.mark.parametrize("mode", list(ATTACKS))
def test_local_other_ways_to_reserve_are_denied(local_env, mode):
    backend, env = local_env
    before = tree_usage(backend.cache_root)
    sb = backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60))
    root = sb.root
    try:
        result = _probe(sb, mode, "/tmp")
        assert result.exit_code == 0 and ATTACKS[mode] in result.output, result
        assert "held 0 MiB" in result.output and tree_usage(root) < 1 << 20, result
    finally:
        sb.close()
    assert not root.exists() and tree_usage(backend.cache_root) < before + (1 << 20)


def test_local_posix_fallocate_loop_meets_the_disk_limit(local_env):
    backend, env = local_env
    before = tree_usage(backend.cache_root)
    sb = backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60))
    root = sb.root
    try:
        result = _probe(sb, "posix", "/tmp", "16")  # 40 x 16 MiB, written block by block
        assert result.disk_limit and f"disk limit ({LIMIT_MB} MiB) reached" in result.output
        assert "held 640 MiB" not in result.output, result
        assert sb.exec("echo still usable").output == "still usable\n"
    finally:
        sb.close()
    assert not root.exists() and tree_usage(backend.cache_root) < before + (1 << 20)


def test_local_normal_commands_are_unaffected(local_env):
    backend, env = local_env
    assert "fallocate and preallocating ioctls EOPNOTSUPP" in backend.describe()
    with backend.start(env) as sb:
        result = sb.exec(NORMAL)
        assert result.exit_code == 0 and "normal-ok" in result.output, result
        assert "pip " in result.output and "\n45\n" in result.output


def test_local_build_sandboxes_are_filtered_too(local_env):
    """Environment builds run in the same bubblewrap sandboxes (with a network)."""
    backend, env = local_env
    with backend.start(env, Limits(network=True)) as sb:
        result = sb.exec("fallocate -l 1M /tmp/f; echo rc=$?")
        assert "Operation not supported" in result.output and "rc=1" in result.output, result


# -- docker backend ----------------------------------------------------------------------------
@pytest.mark.docker
def test_docker_fallocate_fails_and_posix_fallocate_writes(docker_backend, two_commit_env):  # noqa: F811
    env, _ = two_commit_env
    with docker_backend.start(env) as sb:
        result = sb.exec("fallocate -l 1G /tmp/f; echo rc=$?; du -k /tmp/f")
        assert "Operation not supported" in result.output and "rc=1" in result.output, result
        assert "0\t/tmp/f" in result.output and not result.disk_limit
        small = _probe(sb, "posix", "/tmp", "1")
        assert small.exit_code == 0 and "held 40 MiB" in small.output, small


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["loop", *ATTACKS])
def test_docker_ways_to_reserve_are_denied(docker_backend, two_commit_env, mode):  # noqa: F811
    env, _ = two_commit_env
    sb = docker_backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60))
    layers = list(sb.disk.roots)
    try:
        if mode == "loop":
            result = sb.exec(FALLOCATE_LOOP.format(dir="/testbed"))
            assert "40 fallocate: fallocate failed: Operation not supported" in result.output
        else:
            result = _probe(sb, mode, "/tmp")
            assert result.exit_code == 0 and ATTACKS[mode] in result.output, result
            assert "held 0 MiB" in result.output, result
        assert not result.disk_limit and sum(tree_usage(p) for p in layers) < 2 << 20, result
    finally:
        sb.close()
    assert layers and not any(layer.exists() for layer in layers)


@pytest.mark.docker
def test_docker_posix_fallocate_loop_meets_the_disk_limit(docker_backend, two_commit_env):  # noqa: F811
    env, _ = two_commit_env
    with docker_backend.start(env, Limits(disk_mb=LIMIT_MB, timeout_s=60)) as sb:
        result = _probe(sb, "posix", "/tmp", "16")
        assert result.disk_limit and f"disk limit ({LIMIT_MB} MiB) reached" in result.output
        assert sb.exec("echo still usable").output == "still usable\n"


@pytest.mark.docker
@pytest.mark.skipif(not X86_64, reason="system call numbers below are x86_64's")
def test_docker_profile_keeps_the_engine_default(docker_backend, two_commit_env):  # noqa: F811
    """Calls the engine's default profile denies stay denied, with the same errors, in a
    sandbox (compared live with a container of the same image under the default)."""
    env, _ = two_commit_env
    calls = {  # x86_64 numbers; all denied (or failing) in the default profile
        "add_key": 248,
        "request_key": 249,
        "kexec_load": 246,
        "bpf": 321,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "swapon": 167,
        "reboot": 169,
        "init_module": 175,
        "open_by_handle_at": 304,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "io_uring_setup": 425,
    }
    script = (
        "import ctypes, json; libc = ctypes.CDLL(None, use_errno=True); out = {}\n"
        f"for name, nr in {calls!r}.items():\n"
        "    rc = libc.syscall(nr, 0, 0, 0, 0, 0); out[name] = ctypes.get_errno() if rc else 0\n"
        "print(json.dumps(out, sort_keys=True))\n"
    )
    with docker_backend.start(env) as sb:
        sb.write_file("/tmp/calls.py", script)
        ours = json.loads(sb.exec("python /tmp/calls.py").output)
        image = sb.container.attrs["Image"]
    python = "/opt/swelego/venv/bin/python"
    plain = docker_backend.client.containers.run(
        image, [python, "-c", script], remove=True, network_mode="none"
    )
    default = json.loads(plain.decode())
    assert ours == default and set(ours) == set(calls)
    assert all(code != 0 for code in ours.values()), ours


@pytest.mark.docker
def test_docker_normal_commands_are_unaffected(docker_backend, two_commit_env):  # noqa: F811
    env, _ = two_commit_env
    with docker_backend.start(env) as sb:
        started = time.monotonic()
        result = sb.exec(NORMAL)
        assert result.exit_code == 0 and "normal-ok" in result.output, result
        assert time.monotonic() - started < 30
