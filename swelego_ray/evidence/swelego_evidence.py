"""swelego's evidence plugin for pytest: one signed record per test outcome.

The harness unpacks this file into the run's private directory of the sandbox, with the
patches (it is never part of the repository under test), under a module name chosen per run
(`swelego_evidence_<random>`, so nothing in the repository can shadow it), and loads it
with `-p <that name>`, which pytest imports before any conftest.py. At import it reads the
run's key from the file descriptor named by SWELEGO_EVIDENCE_FD (a pipe the harness's
shell fills from its own standard input) and closes it, then appends one line per event to
the file named by SWELEGO_EVIDENCE_OUT:

    <seq> <STATUS> <mac> <node id as a JSON string>

where mac is the first 32 hex digits of HMAC-SHA256(key, "<seq>\\0<STATUS>\\0<node id>").
Record 0 is START (written at import), the last is END (pytest_sessionfinish, with the
exit status as its node id). The host takes test statuses only from records whose mac
verifies, numbered without a gap from START to END.

Residual risk, stated plainly: the key lives in this process's memory, and the code under
test runs in the same process. Code written to defeat this plugin specifically can find the
key (or call the signer, or rewrite reports before they reach it). What the records stop is
forging results by printing PASSED lines, by ending the process early, or by the usual
conftest / ini-file cheats (which the harness also restores before the run).

Runs on the sandbox's interpreter: Python 3.5+ and pytest 3+, standard library only.
"""
# ruff: noqa: UP031

import os
import sys


def _trusted_import(names):
    """Import `names` from the interpreter's own directories only: under `python -m pytest`
    the repository comes first on sys.path, where a file could pose as a standard module."""
    roots = set()
    for prefix in (sys.base_prefix, sys.prefix, sys.exec_prefix):
        roots.add(os.path.join(os.path.realpath(prefix), ""))
    saved = sys.path[:]
    sys.path[:] = [
        p for p in saved if p and os.path.join(os.path.realpath(p), "").startswith(tuple(roots))
    ]
    try:
        return [__import__(name) for name in names]
    finally:
        sys.path[:] = saved


def _sha256():
    """sha256 without OpenSSL where the interpreter has its own (importing hashlib loads
    libcrypto: ~5 ms of every test run); hashlib's otherwise."""
    for name in ("_sha2", "_sha256"):  # Python 3.12+, 3.5-3.11
        try:
            return _trusted_import([name])[0].sha256
        except (ImportError, AttributeError):
            pass
    return _trusted_import(["hashlib"])[0].sha256


def _hmac_sha256(key, sha256):
    """HMAC-SHA256 (RFC 2104) of one key, as a function of the message: hex digest."""
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in bytearray(key)))
    outer = sha256(bytes(b ^ 0x5C for b in bytearray(key)))

    def mac(message):
        head = inner.copy()
        head.update(message)
        tail = outer.copy()
        tail.update(head.digest())
        return tail.hexdigest()

    return mac


(json,) = _trusted_import(["json"])  # pytest has imported it already

_FD_VAR = "SWELEGO_EVIDENCE_FD"
_OUT_VAR = "SWELEGO_EVIDENCE_OUT"
_ADDOPTS_VAR = "PYTEST_ADDOPTS"
_SELF_OPTION = "-p " + __name__
_state = {"config": None}


def _read_key(fd):
    """The first line on `fd`, which is closed afterwards."""
    data = b""
    try:
        while len(data) < 1024 and not data.endswith(b"\n"):
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data.strip()


def _restore_addopts():
    """PYTEST_ADDOPTS as it was: pytest runs started by the tests do not load this."""
    value = os.environ.get(_ADDOPTS_VAR, "")
    if value.startswith(_SELF_OPTION):
        rest = value[len(_SELF_OPTION) :].strip()
        if rest:
            os.environ[_ADDOPTS_VAR] = rest
        else:
            del os.environ[_ADDOPTS_VAR]


def _make_writer():
    """A function writing one signed record, or None outside a harness run (no key)."""
    fd_text = os.environ.pop(_FD_VAR, "")
    path = os.environ.pop(_OUT_VAR, "")
    _restore_addopts()
    if not fd_text or not path:
        return None
    try:
        key = _read_key(int(fd_text))
        out = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except (OSError, ValueError):
        return None
    if not key:
        os.close(out)
        return None
    counter = [0]
    sign = _hmac_sha256(key, _sha256())

    def write(status, name):
        seq = counter[0]
        counter[0] = seq + 1
        message = ("%d\0%s\0%s" % (seq, status, name)).encode("utf-8", "surrogatepass")
        mac = sign(message)[:32]
        line = "%d %s %s %s\n" % (seq, status, mac, json.dumps(name))
        os.write(out, line.encode("ascii"))

    return write


_write = _make_writer()
if _write is not None:
    _write("START", "")


def _pytest_major():
    """pytest's major version (0 if unknown)."""
    version = getattr(sys.modules.get("pytest"), "__version__", "")
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def _node_id(nodeid):
    """The id as pytest's -rA summary prints it (relative to the invocation directory).
    pytest < 4 puts a class's instance in node ids (`t.py::C::()::test_x`) and drops it
    when printing; its logs (and SWE-bench's test ids) say `t.py::C::test_x`."""
    config = _state["config"]
    relative = getattr(config, "cwd_relative_nodeid", None)
    name = relative(nodeid) if relative is not None else nodeid
    if 0 < _pytest_major() < 4:
        name = name.replace("::()", "")
    return name


def _status(report):
    """The status -rA would report for this phase, or None (nothing to report)."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "XPASS" if xfail else "PASSED"
        if report.skipped:
            return "XFAIL" if xfail else "SKIPPED"
        return "FAILED" if report.failed else None
    if report.failed:
        return "ERROR"  # setup or teardown
    if report.when == "setup" and report.skipped:
        return "XFAIL" if xfail else "SKIPPED"
    return None


def pytest_configure(config):
    _state["config"] = config


def pytest_runtest_logreport(report):
    status = _status(report) if _write is not None else None
    if status is not None:
        _write(status, _node_id(report.nodeid))


def pytest_collectreport(report):
    if _write is not None and report.failed:
        _write("ERROR", _node_id(report.nodeid))


def pytest_sessionfinish(session, exitstatus):
    if _write is not None:
        _write("END", str(int(exitstatus)))
