"""The shell that runs a test command so that its results can be trusted, and the markers
the host reads back.

The run's secret never appears in a command line, an environment or a file in the sandbox:
the host sends it as the first line of the sandbox command's standard input, the outer
shell reads it into an unexported variable (`read -r`, a builtin) and prints the markers
with builtins only, and the test command runs in a child with standard input from
/dev/null. For pytest commands the secret also reaches the evidence plugin
(swelego_evidence.py) on a pipe (file descriptor 3, a here-string) that the plugin reads
and closes at import, before any conftest.py runs; the plugin then signs one record per
test. Other runners (Django's runtests.py, sympy's bin/test, unittest) are graded from
their log between the markers and the command's own exit code.

The plugin lives in the run's own directory (`patching.run_dir`, mode 0700, a fresh
unguessable name) under a module name chosen per run. The harness sends it in the tar
that brings the patches (`plugin_files`, `plugin_in_place=True`), so no process is spent
writing it; on its own, the script writes it with a builtin after one `mkdir`. Only
harness code runs before the test command: patching is `git apply` / GNU patch, never the
repository's code. The shell reads the records back with a builtin (`read -N`, bounded in
size and time; a FIFO or device planted in their place cannot block it).

Residual risk: a process in the sandbox that sets out to defeat the harness can read the
outer shell's memory (same user, no ptrace restriction in the sandbox), and code in the
pytest process can read the plugin's. Markers and signatures stop a log that merely claims
results; they cannot stop code written against this harness in particular.
"""

from __future__ import annotations

import functools
import re
import secrets
import shlex
from pathlib import Path

from swelego_ray.patching import SECRET_VAR, run_dir
from swelego_ray.testlogs import PYTEST_PARSERS

PLUGIN_MODULE = "swelego_evidence"
SETUP_FAILED = "@@swelego-setup-failed"  # printed (before the start marker) by the script
_PLUGIN_FD = 3
RECORDS_BYTES = 8_000_000  # the most of the records file the host reads back
RECORDS_WAIT_S = 10  # the longest the shell waits reading it
_S = f"${SECRET_VAR}"  # the secret as the script refers to it
# Milliseconds since the epoch into $__swelego_ms: bash 5's $EPOCHREALTIME (no process),
# `date` on older shells.
_NOW_MS = (
    'if [ -n "${EPOCHREALTIME:-}" ]; then __swelego_ms=$(( ${EPOCHREALTIME/[.,]/} / 1000 )); '
    "else __swelego_ms=$(date +%s%3N); fi"
)


def new_secret() -> str:
    return secrets.token_hex(16)


def start_marker(secret: str) -> str:
    return f">>>>> SWELEGO TESTS START {secret}"


def end_marker(secret: str) -> str:
    return f">>>>> SWELEGO TESTS END {secret} exit="


def records_marker(secret: str) -> str:
    return f">>>>> SWELEGO RECORDS {secret}"


def deadline_marker(secret: str) -> str:
    return f"@@swelego-test-deadline-{secret}"


# `pytest ...`, `py.test ...`, `python -m pytest ...`, optionally after VAR=value words
_PYTEST_RE = re.compile(
    r"^(?:\w+=\S*\s+)*(?:\S*/)?(?:pytest|py\.test|python[\d.]*(?:\s+-[A-Za-z]+)*\s+-m\s+pytest)"
    r"(?:\s|$)"
)


def is_pytest_command(command: str) -> bool:
    """Whether `command` starts pytest directly (not through tox, make, a script...) and
    leaves PYTEST_ADDOPTS (which carries the plugin) alone."""
    return bool(_PYTEST_RE.match(command.strip())) and "PYTEST_ADDOPTS" not in command


def uses_signed_records(command: str, parser: str) -> bool:
    """Whether a run of `command` graded with `parser` gets signed records (pytest run
    directly, graded by a pytest-format parser)."""
    return parser in PYTEST_PARSERS and is_pytest_command(command)


@functools.cache
def plugin_source() -> str:
    return Path(__file__).with_name(f"{PLUGIN_MODULE}.py").read_text()


@functools.cache
def plugin_module_text() -> str:
    """The module the sandbox imports: the plugin's source as one string literal, compiled
    and run in the module's own namespace. pytest rewrites the asserts of every module
    named with `-p` (an AST walk in Python, ~2 ms for the whole plugin on every run); of
    this one it walks three statements."""
    return (
        f'"""swelego\'s evidence plugin (source: swelego_ray/evidence/{PLUGIN_MODULE}.py)."""\n'
        f"_SWELEGO_SOURCE = {plugin_source()!r}\n"
        'exec(compile(_SWELEGO_SOURCE, __file__, "exec"))\n'
    )


def plugin_files(run_id: str) -> dict[str, str]:
    """The files of the run directory that `run_script(..., plugin_in_place=True)` needs
    (name: text), for the harness to send with the patches."""
    return {f"{PLUGIN_MODULE}_{run_id}.py": plugin_module_text()}


def run_script(
    command: str,
    *,
    timeout_s: float | None,
    signed: bool,
    run_id: str,
    plugin_in_place: bool = False,
) -> str:
    """Bash (run by a shell whose `$__swelego_secret` holds the secret) that runs `command`
    between the markers, under `timeout_s` when given, and exits with its exit code; with
    `signed`, the plugin's records follow the end marker. With `plugin_in_place`, the run
    directory already holds `plugin_files(run_id)` and is left in place (the harness
    unpacks it with the patches; the sandbox goes after the run); otherwise the script
    makes it, writes the plugin, and removes it at the end."""
    rd, module = run_dir(run_id), f"{PLUGIN_MODULE}_{run_id}"
    lines = []
    if signed and not plugin_in_place:
        source = shlex.quote(plugin_module_text())
        lines.append(
            f"mkdir -m 700 {rd} && printf '%s' {source} > {rd}/{module}.py "
            f'|| {{ echo "{SETUP_FAILED} cannot write the evidence plugin into {rd}"; '
            "exit 125; }"
        )
    lines.append(f'echo ">>>>> SWELEGO TESTS START {_S}"')
    run = f"bash -c {shlex.quote(command)}"
    if timeout_s is not None:
        lines.append(_NOW_MS + "; __swelego_t0=$__swelego_ms")
        run = f"timeout -s KILL {timeout_s:.3f} {run}"
    if signed:
        env = (
            f"SWELEGO_EVIDENCE_FD={_PLUGIN_FD} SWELEGO_EVIDENCE_OUT={rd}/records "
            f'PYTHONPATH={rd}"${{PYTHONPATH:+:$PYTHONPATH}}" '
            f'PYTEST_ADDOPTS="-p {module}${{PYTEST_ADDOPTS:+ $PYTEST_ADDOPTS}}"'
        )
        run = f'{env} {run} {_PLUGIN_FD}<<<"{_S}"'
    lines += [f"{run} </dev/null 2>&1", "__swelego_rc=$?"]
    if timeout_s is not None:
        limit_ms = int(timeout_s * 1000) - 20
        lines.append(
            f'if [ "$__swelego_rc" = 137 ] && {_NOW_MS} && '
            f"[ $(( __swelego_ms - __swelego_t0 )) -ge {limit_ms} ]; then "
            f'echo; echo "@@swelego-test-deadline-{_S}"; fi'
        )
    lines.append(f'echo; echo ">>>>> SWELEGO TESTS END {_S} exit=$__swelego_rc"')
    if signed:
        # O_RDWR: opening a FIFO does not block; -t bounds the read, -N its size
        lines.append(
            f'echo ">>>>> SWELEGO RECORDS {_S}"; '
            f"{{ IFS= read -r -N {RECORDS_BYTES} -t {RECORDS_WAIT_S} -u 4 __swelego_rec; "
            f"printf '%s' \"$__swelego_rec\"; }} 4<>{rd}/records 2>/dev/null"
        )
        if not plugin_in_place:
            lines.append(f"rm -rf -- {rd}")
    lines.append('exit "$__swelego_rc"')
    return "\n".join(lines) + "\n"
