"""Seccomp rules that keep a sandbox from reserving disk space without writing it.

`fallocate` reserves up to RLIMIT_FSIZE per file at once, so a loop over many files could
reserve hundreds of GB between two checks of the disk watchdog (sandbox._disk). Inside a
sandbox, space may only be consumed by real writes, which the watchdog sees in time:

- `fallocate` fails with EOPNOTSUPP (glibc's posix_fallocate then falls back to writing);
- the ioctls that reach the same code (FS_IOC_RESVSP, FS_IOC_RESVSP64, FS_IOC_ZERO_RANGE,
  in their 64-bit and x86 compat sizes) fail with EOPNOTSUPP;
- io_uring (whose IORING_OP_FALLOCATE bypasses seccomp) fails with ENOSYS, as under the
  container engines' default profiles; programs fall back to plain syscalls.

`bpf_program()` is the local backend's classic-BPF program (bubblewrap's `--seccomp FD`).
It checks the ABI first: x86_64 (including the x32 ABI, its numbers with bit 30 set), i386,
aarch64 and arm each get their own syscall numbers, so 32-bit code on a 64-bit host is
filtered too. A process cannot make a call of any other ABI on those hosts; if one
appeared anyway, the process is killed (fail closed). On a host of another architecture
no program is built (`bpf_program()` is None) and describe() says fallocate is not denied.

`engine_profile()` adds the same denials to a container engine's default profile (JSON),
keeping every rule of it.
"""

from __future__ import annotations

import copy
import errno
import functools
import platform
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH = 0, 4
_ARG1_LOW = 16 + 8 * 1  # the low word of args[1] (little-endian ABIs only, as below)
_X32 = 0x40000000  # __X32_SYSCALL_BIT


def _ioc_w(kind: str, number: int, size: int) -> int:
    """_IOW(kind, number, size) on x86 and arm (direction bit 30)."""
    return (1 << 30) | (size << 16) | (ord(kind) << 8) | number


# struct space_resv is 48 bytes, 44 on i386 (and x32's compat entry points)
PREALLOC_IOCTLS = tuple(
    _ioc_w("X", number, size) for number in (40, 42, 57) for size in (48, 44)
)  # FS_IOC_RESVSP, FS_IOC_RESVSP64, FS_IOC_ZERO_RANGE


@dataclass(frozen=True)
class Abi:
    """One system-call ABI: its AUDIT_ARCH value and the numbers this filter looks at."""

    name: str
    audit_arch: int
    fallocate: tuple[int, ...]
    ioctl: tuple[int, ...]
    io_uring: tuple[int, ...]  # io_uring_setup, io_uring_enter, io_uring_register


_IO_URING = (425, 426, 427)  # the same on every architecture
ABIS = (
    Abi(
        "x86_64",
        0xC000003E,
        fallocate=(285, _X32 | 285),
        ioctl=(16, _X32 | 514),  # x32's ioctl has its own number
        io_uring=(*_IO_URING, *(_X32 | n for n in _IO_URING)),
    ),
    Abi("i386", 0x40000003, fallocate=(324,), ioctl=(54,), io_uring=_IO_URING),
    Abi("aarch64", 0xC00000B7, fallocate=(47,), ioctl=(29,), io_uring=_IO_URING),
    Abi("arm", 0x40000028, fallocate=(352,), ioctl=(54,), io_uring=_IO_URING),
)
# host machines (uname -m) whose every ABI is in ABIS
SUPPORTED_MACHINES = frozenset(
    {"x86_64", "amd64", "i386", "i486", "i586", "i686", "aarch64", "arm64"}
    | {"armv7l", "armv8l", "armv7hl"}
)


class _Asm:
    """A tiny assembler: instructions with symbolic jump targets, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | None, int]] = []  # (opcode, target, k)
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def load(self, offset: int) -> None:
        self.code.append((_LD_W_ABS, None, offset))

    def jump_if(self, value: int, target: str) -> None:
        self.code.append((_JEQ_K, target, value))

    def ret(self, value: int) -> None:
        self.code.append((_RET_K, None, value))

    def assemble(self) -> bytes:
        """struct sock_filter {__u16 code; __u8 jt; __u8 jf; __u32 k;}, native order."""
        out = bytearray()
        for index, (code, target, k) in enumerate(self.code):
            jt = 0 if target is None else self.labels[target] - index - 1
            if not 0 <= jt <= 255:
                raise ValueError(f"seccomp jump to {target} out of range ({jt})")
            out += struct.pack("=HBBI", code, jt, 0, k)
        return bytes(out)


def build_program(abis: tuple[Abi, ...] = ABIS) -> bytes:
    """The classic-BPF program: per ABI, deny fallocate (EOPNOTSUPP), io_uring (ENOSYS)
    and the preallocating ioctls (EOPNOTSUPP); allow everything else; kill a process
    making a call of an unknown ABI."""
    asm = _Asm()
    asm.load(_ARCH)
    for abi in abis:
        asm.jump_if(abi.audit_arch, abi.name)
    asm.ret(RET_KILL_PROCESS)
    for abi in abis:
        asm.label(abi.name)
        asm.load(_NR)
        for nr in abi.fallocate:
            asm.jump_if(nr, "eopnotsupp")
        for nr in abi.io_uring:
            asm.jump_if(nr, "enosys")
        for nr in abi.ioctl:
            asm.jump_if(nr, "ioctl")
        asm.ret(RET_ALLOW)
    asm.label("ioctl")
    asm.load(_ARG1_LOW)  # the kernel reads cmd as an unsigned int: high bits do not count
    for cmd in PREALLOC_IOCTLS:
        asm.jump_if(cmd, "eopnotsupp")
    asm.ret(RET_ALLOW)
    asm.label("eopnotsupp")
    asm.ret(RET_ERRNO | errno.EOPNOTSUPP)
    asm.label("enosys")
    asm.ret(RET_ERRNO | errno.ENOSYS)
    return asm.assemble()


@functools.cache
def bpf_program() -> bytes | None:
    """The program for this host (built once per process), or None on a machine whose
    ABIs are not all known (see the module docstring)."""
    if platform.machine().lower() not in SUPPORTED_MACHINES or struct.pack("=H", 1) != b"\1\0":
        return None
    return build_program()


FILTER_NAME = "seccomp.bpf"
_FD = 9  # the descriptor bubblewrap reads the program from (a shell redirection: 0-9)
_OPEN_AND_EXEC = (
    '[ -r "$0" ] || { echo "swelego: seccomp filter $0 is missing"; exit 125; }; '
    f'exec "$@" {_FD}<"$0"'
)


def write_filter(directory: Path) -> None:
    """Write the program into `directory` (a private per-process directory) as
    FILTER_NAME; nothing on a host without a program."""
    program = bpf_program()
    if program is not None:
        (directory / FILTER_NAME).write_bytes(program)


def bwrap_launch(directory: Path) -> tuple[list[str], list[str]]:
    """(an argv prefix, bwrap options) that run bwrap with the program of `directory`:
    a shell opens the file on a fresh descriptor per command (bwrap reads it to its end,
    so one shared offset could not serve concurrent commands) and bwrap gets
    `--seccomp FD`. Both are empty on a host without a program."""
    if bpf_program() is None:
        return [], []
    return ["/bin/sh", "-c", _OPEN_AND_EXEC, str(directory / FILTER_NAME)], ["--seccomp", str(_FD)]


def describe() -> str:
    """What the local backend's filter denies, in a few words."""
    if bpf_program() is None:
        return f"fallocate NOT denied (no seccomp table for {platform.machine()})"
    return "seccomp: fallocate and preallocating ioctls EOPNOTSUPP, io_uring ENOSYS"


# -- container engines --------------------------------------------------------------------
_ENGINE_DENIED = {"fallocate": errno.EOPNOTSUPP, "io_uring_setup": errno.ENOSYS}
_ENGINE_DENIED |= {"io_uring_enter": errno.ENOSYS, "io_uring_register": errno.ENOSYS}


def engine_profile(base: dict[str, Any]) -> dict[str, Any]:
    """`base` (an engine's default seccomp profile, Docker/OCI JSON) with fallocate and
    io_uring moved to errno rules and ioctl narrowed to every command but the preallocating
    ones (which get an errno rule); every other rule is kept as it is. ValueError if `base`
    is not a profile of that form.

    libseccomp lets an unconditional allow of a call win over a conditional errno rule for
    it, so ioctl's allow becomes conditional: one rule per pattern of `cmd`'s low 32 bits
    (the kernel reads cmd as an unsigned int) that covers all commands but the denied ones,
    as the default profile does for socket()."""
    if not isinstance(base.get("syscalls"), list) or "defaultAction" not in base:
        raise ValueError("not a seccomp profile (needs defaultAction and a syscalls list)")
    profile = copy.deepcopy(base)
    rules: list[dict[str, Any]] = []
    ioctl_allows: list[dict[str, Any]] = []  # the ioctl allow rules, narrowed below
    for rule in profile["syscalls"]:
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        dropped = set(_ENGINE_DENIED)
        if rule.get("action") == "SCMP_ACT_ALLOW" and not rule.get("args") and "ioctl" in names:
            dropped.add("ioctl")
            ioctl_allows.append(rule)
        kept = [n for n in names if n not in dropped]
        if kept == names:
            rules.append(rule)
        elif kept:
            rules.append({k: v for k, v in rule.items() if k != "name"} | {"names": kept})
    for name, code in _ENGINE_DENIED.items():
        rules.append(_rule([name], "SCMP_ACT_ERRNO", errno_ret=code))
    for cmd in PREALLOC_IOCTLS:
        rules.append(_rule(["ioctl"], "SCMP_ACT_ERRNO", (0xFFFFFFFF, cmd), errno.EOPNOTSUPP))
    for allow in ioctl_allows:  # under the same conditions (arches, capabilities)
        scope = {k: allow[k] for k in ("includes", "excludes") if allow.get(k)}
        for pattern in complement_patterns(PREALLOC_IOCTLS):
            rules.append(_rule(["ioctl"], "SCMP_ACT_ALLOW", pattern) | scope)
    profile["syscalls"] = rules
    return profile


def complement_patterns(values: tuple[int, ...], bits: int = 32) -> list[tuple[int, int]]:
    """(mask, value) pairs whose matches (x & mask == value) are exactly the `bits`-bit
    numbers not in `values`, without overlaps: the empty branches of their binary trie."""
    patterns: list[tuple[int, int]] = []

    def walk(prefix: int, depth: int, members: list[int]) -> None:
        if not members:
            mask = ((1 << depth) - 1) << (bits - depth)
            patterns.append((mask, prefix))
        elif depth < bits:
            bit = 1 << (bits - depth - 1)
            walk(prefix, depth + 1, [v for v in members if not v & bit])
            walk(prefix | bit, depth + 1, [v for v in members if v & bit])

    walk(0, 0, sorted(set(values)))
    return patterns


def _rule(
    names: list[str],
    action: str,
    cmd: tuple[int, int] | None = None,
    errno_ret: int | None = None,
) -> dict[str, Any]:
    """A profile rule; with `cmd` (mask, value), only for ioctl commands matching it."""
    rule: dict[str, Any] = {"names": names, "action": action, "args": []}
    if cmd is not None:
        mask, value = cmd
        rule["args"] = [{"index": 1, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}]
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    rule["comment"] = "swelego: no disk reservation without writes (sandbox/_seccomp.py)"
    return rule
