"""A PEP 691 JSON package index on loopback for resolution tests: tiny wheels and sdists
built here, with upload times (PEP 700) and yanked flags, so uv's cutoff rules run
offline against releases whose dates the test chooses."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

# name: [(version, upload time, yanked reason or False, kind: "wheel" | "broken-sdist")]
Release = tuple[str, str, str | bool, str]


def wheel(name: str, version: str) -> tuple[str, bytes]:
    """A pure-Python py3-none-any wheel with one module."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def broken_sdist(name: str, version: str) -> tuple[str, bytes]:
    """An sdist whose in-tree build backend fails the way a C extension without its
    system library does (a missing header), with no build requirements to download."""
    root = f"{name}-{version}"
    files = {
        f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{root}/pyproject.toml": (
            b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        ),
        f"{root}/backend.py": (
            b"import sys\n\n\ndef _fail(*args, **kwargs):\n"
            b"    sys.exit('src/ext.c:1:10: fatal error: hdf5.h: No such file or directory')\n\n\n"
            b"get_requires_for_build_wheel = prepare_metadata_for_build_wheel = _fail\n"
            b"build_wheel = build_sdist = _fail\n"
        ),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return f"{root}.tar.gz", buffer.getvalue()


@contextmanager
def serve_index(releases: dict[str, list[Release]]) -> Iterator[str]:
    """http://127.0.0.1:PORT/simple serving `releases` (JSON pages and the files)."""
    blobs: dict[str, bytes] = {}
    pages: dict[str, bytes] = {}
    for name, versions in releases.items():
        files = []
        for version, uploaded, yanked, kind in versions:
            make = broken_sdist if kind == "broken-sdist" else wheel
            filename, data = make(name, version)
            blobs[f"/files/{filename}"] = data
            files.append(
                {
                    "filename": filename,
                    "url": f"/files/{filename}",
                    "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                    "upload-time": uploaded,
                    "yanked": yanked,
                }
            )
        page = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
        pages[f"/simple/{name}/"] = json.dumps(page).encode()

    class Index(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # uv asks whether a file supports range requests (it doesn't)
            self.do_GET(body=False)

        def do_GET(self, body: bool = True):
            path = self.path.split("?")[0]
            path = path if path.endswith("/") or path.startswith("/files/") else path + "/"
            data = pages.get(path) or blobs.get(path)
            if data is None:
                self.send_error(404)
                return
            kind = "application/vnd.pypi.simple.v1+json" if path in pages else "application/zip"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
