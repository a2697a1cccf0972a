"""A Debian + Python base image built offline from Debian's packages (no registry needed).

For machines that can reach Debian's package mirror but no container registry: debootstrap
a minimal rootfs with Python, venv, git and patch from the mirror apt already uses on this host,
import it into the engine, and keep a `docker save` tarball under the cache directory so
the next machine state (or a wiped engine) loads it in seconds instead of rebuilding.
Machines with a registry use `python:<version>-slim` instead (ImageConfig.base_image).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from swelego_ray.envs._spec import EnvBuildError
from swelego_ray.envs.repos import file_lock
from swelego_ray.storage import content_hash

if TYPE_CHECKING:
    import docker

logger = logging.getLogger(__name__)

# python3 and venv for environments, git and patch for the harness (bash, tar and
# coreutils' timeout are in every minbase); the tag hashes this list, so adding a package
# means a new base image, never an old cached one without it.
PACKAGES = ("python3", "python3-venv", "git", "patch", "ca-certificates", "procps")
_TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info")
_TRIM += ("usr/share/locale",)


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    """This host's Debian suite (e.g. bookworm): the base matches the host's libraries."""
    for line in os_release.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise EnvBuildError(f"{os_release} names no VERSION_CODENAME; pass the suite explicitly")


def apt_mirror(suite: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror URI that this machine's apt uses for `suite` (deb822 and one-line
    sources), so the base image comes from wherever this host is allowed to fetch."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in (".list", ".sources", ""):
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = _deb822_fields(stanza)
                if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
                    return fields["uris"][0]
        else:
            for line in text.splitlines():
                parts = re.sub(r"\[[^]]*\]", "", line).split()
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                    return parts[1]
    raise EnvBuildError(f"no apt source for suite {suite!r} in {apt_dir}; cannot debootstrap")


def _deb822_fields(stanza: str) -> dict[str, list[str]]:
    fields = {}
    for line in stanza.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(("#", " ", "\t")):
            fields[key.strip().lower()] = value.split()
    return fields


def base_image_name(suite: str) -> str:
    """The tag names the suite and the package set, so a changed recipe is a new image."""
    return f"swelego-base:{suite}-{content_hash([suite, *PACKAGES])[:12]}"


def build_rootfs(dest: Path, suite: str, mirror: str) -> None:
    if shutil.which("debootstrap") is None:
        raise EnvBuildError("debootstrap is not installed: run scripts/setup.sh")
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
    proc = subprocess.run([*cmd, suite, str(dest), mirror], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise EnvBuildError(f"debootstrap {suite} from {mirror} failed:\n{tail}")
    for rel in _TRIM:
        for child in (dest / rel).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def ensure_base_image(
    client: docker.DockerClient, cache_dir: Path, suite: str | None = None
) -> str:
    """The base image's tag, present in the engine: already there, loaded from the cached
    tarball, or built with debootstrap (~60 s) and saved for next time."""
    import docker

    suite = suite or host_codename()
    name = base_image_name(suite)
    tarball = Path(cache_dir) / "docker" / f"{name.replace(':', '_')}.tar"
    with file_lock(tarball.with_suffix(".lock")):
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            image = None
        if image is not None:
            if not tarball.exists():  # e.g. built before this cache existed
                _save(image, tarball)
            return name
        started = time.monotonic()
        if tarball.exists():
            with open(tarball, "rb") as handle:
                client.images.load(handle)
            logger.info("loaded %s from %s in %.1fs", name, tarball, time.monotonic() - started)
            return name
        _build_and_save(client, name, suite, tarball)
        logger.info("built base image %s in %.1fs", name, time.monotonic() - started)
    return name


def _build_and_save(client: docker.DockerClient, name: str, suite: str, tarball: Path) -> None:
    mirror = apt_mirror(suite)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix=".rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        logger.info("debootstrap %s from %s (about a minute)", suite, mirror)
        build_rootfs(rootfs, suite, mirror)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        out = client.api.import_image(src=tar.stdout, changes=['CMD ["bash"]'])
        tar.wait()
        match = re.search(r"sha256:[0-9a-f]{64}", str(out))
        if tar.returncode != 0 or match is None:
            raise EnvBuildError(f"importing the {suite} rootfs failed: {str(out)[-2000:]}")
        repo, tag = name.split(":")
        client.images.get(match.group(0)).tag(repo, tag)  # podman ignores import's tag
    _save(client.images.get(name), tarball)


def _save(image: docker.models.images.Image, tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".tar.part")
    with open(partial, "wb") as handle:
        for chunk in image.save(named=True):
            handle.write(chunk)
    partial.rename(tarball)
