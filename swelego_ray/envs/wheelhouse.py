"""The offline wheelhouse of docker image builds: the wheels a build without network installs.

Downloading a repository's requirements builds sdists to read their metadata (pip, and uv
under a resolution cutoff), which runs their setup code: it is untrusted code, so it runs
in a build sandbox (bubblewrap with the package-index network), never on the host. The
sandbox sees the checkout read-only (at TESTBED, where relative paths in requirement files
resolve, and at its own path, which `-r` arguments name; a writable copy, since pip builds
local projects in their tree), the interpreter and uv read-only, and one fresh work
directory writable; not the host's pip or uv caches, not the shared checkout.

Each requirement list gets a directory of its own, filled by its own download and checked
on the host (regular files with distribution names) before it is kept, so what one
repository's download writes is only ever installed into that same list's images:

    CACHE/docker/wheels/py<version>/<key>/   the files, and files.json (their names)
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from swelego_ray.envs._spec import EnvBuildError, EnvSpec
from swelego_ray.envs.builder import local_index_mounts, loopback_ports
from swelego_ray.envs.interpreters import find_interpreter, interpreter_prefixes
from swelego_ray.envs.repos import file_lock
from swelego_ray.envs.resolution import resolve_pins, uv_bin, uv_resolution_args
from swelego_ray.sandbox import TESTBED, SandboxError
from swelego_ray.sandbox.isolation import (
    NETWORK_FAILED,
    SANDBOX_PATH,
    Mount,
    bwrap_argv,
    prefix_mounts,
)
from swelego_ray.storage import content_hash

logger = logging.getLogger(__name__)

# Host settings a download needs to reach the package index (proxies, CA bundles, indexes).
_PASSTHROUGH = re.compile(
    r"^(PIP_\w+|UV_\w+|(HTTPS?|NO|ALL)_PROXY|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$",
    re.IGNORECASE,
)
# What pip download saves: wheels and sdists.
_DIST_NAME = re.compile(r"^[A-Za-z0-9][\w.+!-]*\.(whl|tar\.gz|tgz|tar\.bz2|zip)$")
# A requirement naming a path or URL: its download depends on the checkout it came from.
_LOCAL = re.compile(r"^[./~]|/|^file:", re.IGNORECASE)


def wheelhouse(
    cache_dir: Path, spec: EnvSpec, checkout: Path, requirements: list[str], timeout_s: float
) -> list[Path]:
    """The files a build installs `requirements` (pip arguments: names, `-r FILE`) from
    for spec.python: downloaded once per list and resolution rule (in a build sandbox),
    then reused without asking the index."""
    root = Path(cache_dir) / "docker" / "wheels" / f"py{spec.python}"
    root.mkdir(parents=True, exist_ok=True)
    rule = uv_resolution_args(spec)
    local = any(_LOCAL.search(r) for r in requirements if not r.startswith("-"))
    key = content_hash(requirements, *rule, str(checkout) if local else "")[:16]
    house = root / key
    with file_lock(root / f".{key}.lock"):
        listing = house / "files.json"
        if listing.is_file():
            files = [house / name for name in json.loads(listing.read_text())]
            if all(f.is_file() for f in files):
                return files
        with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
            work = Path(tmp)
            names = _download(spec, checkout, requirements, work, timeout_s)
            (work / "out" / "files.json").write_text(json.dumps(names))
            shutil.rmtree(house, ignore_errors=True)
            (work / "out").rename(house)
    logger.info("wheelhouse %s for python %s: %d files", key, spec.python, len(names))
    return [house / name for name in names]


def _download(
    spec: EnvSpec, checkout: Path, requirements: list[str], work: Path, timeout_s: float
) -> list[str]:
    """Resolve (under a cutoff) and `pip download` into work/out in a build sandbox; the
    names of what it saved, checked."""
    interpreter = find_interpreter(spec.python)
    sandbox = DownloadSandbox(checkout, work, interpreter, timeout_s)
    if uv_resolution_args(spec):
        pins = resolve_pins(spec, interpreter, requirements, work / "resolve", run=sandbox.run)
        requirements = ["--no-deps", *pins]
    out = work / "out"
    out.mkdir()
    download = [str(interpreter), "-m", "pip", "download", "--progress-bar", "off"]
    proc = sandbox.run([*download, "-d", str(out), *requirements], dict(os.environ))
    if proc.returncode != 0:
        raise EnvBuildError(
            f"pip download for python {spec.python} (in a build sandbox) failed "
            f"(exit {proc.returncode}): {(proc.stdout + proc.stderr)[-3000:]}"
        )
    return _checked_names(out)


def _checked_names(out: Path) -> list[str]:
    """The names in `out`, each a regular file with a distribution's name (the sandboxed
    download could have left anything there)."""
    names = []
    for entry in os.scandir(out):
        if not entry.is_file(follow_symlinks=False) or not _DIST_NAME.match(entry.name):
            raise EnvBuildError(
                f"the sandboxed download left {entry.name!r} in the wheelhouse, which is not "
                "a wheel or sdist file; refused"
            )
        names.append(entry.name)
    return sorted(names)


class DownloadSandbox:
    """Runs download tools (pip download, uv pip compile) in a build sandbox with the
    package-index network: a copy of `checkout` at TESTBED and at the checkout's own path,
    the interpreter's prefix and uv read-only, `work` writable at its own path (so host
    paths in arguments stay valid), a private /tmp in work/tmp, no host cache."""

    def __init__(self, checkout: Path, work: Path, interpreter: Path, timeout_s: float) -> None:
        self.checkout = Path(checkout)
        self.work = Path(work)
        self.interpreter = Path(interpreter)
        self.timeout_s = timeout_s
        self._copy: Path | None = None

    def _checkout_copy(self) -> Path:
        """A writable copy of the checkout in `work` (made once): pip builds local projects
        in their own tree, and the shared checkout must not change."""
        if self._copy is None:
            copy = self.work / "checkout"
            proc = subprocess.run(
                ["cp", "-a", "--reflink=auto", f"{self.checkout}/.", str(copy)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise EnvBuildError(f"copying {self.checkout} for a download failed: {proc.stderr}")
            self._copy = copy
        return self._copy

    def mounts(self) -> list[Mount]:
        copy = self._checkout_copy()
        mounts = [
            Mount(copy, TESTBED, writable=True),
            Mount(copy, str(self.checkout), writable=True),
            Mount(self.work, str(self.work), writable=True),
            *prefix_mounts(interpreter_prefixes(self.interpreter)),
        ]
        try:
            uv = Path(uv_bin())
        except EnvBuildError:  # only resolving needs it, and says so
            return mounts
        return [*mounts, Mount(uv, str(uv))]

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """`env`'s index settings (the caller's, or the host's), no host caches."""
        kept = {k: v for k, v in env.items() if _PASSTHROUGH.match(k)}
        return kept | {
            "PATH": SANDBOX_PATH,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PIP_CACHE_DIR": "/tmp/pip-cache",
            "UV_CACHE_DIR": "/tmp/uv-cache",
            "UV_PYTHON_DOWNLOADS": "never",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }

    def run(self, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """`command` in the sandbox (a resolution.Runner); EnvBuildError at the deadline."""
        tmp = self.work / "tmp"
        tmp.mkdir(exist_ok=True)
        sandbox_env = self.env(env)
        try:
            mounts = [*self.mounts(), *local_index_mounts(sandbox_env)]
            prefix = bwrap_argv(
                mounts, network=True, tmp=tmp, forward_ports=loopback_ports(sandbox_env)
            )
        except SandboxError as err:
            raise EnvBuildError(f"download sandbox: {err}") from err
        argv = [*prefix, *command]
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=sandbox_env,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise EnvBuildError(
                f"{command[0]} {command[1:4]}... in the download sandbox timed out after "
                f"{self.timeout_s:.0f}s"
            ) from None
        if proc.returncode == 125 and NETWORK_FAILED in stdout + stderr:
            raise EnvBuildError(f"download sandbox: {(stdout + stderr).strip()[-2000:]}")
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
