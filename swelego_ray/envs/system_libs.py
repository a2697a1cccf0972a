"""What a failed build lacked from the system, named as the Debian package that has it.

Builds see the host's /usr (local backend) or the image's (docker): an sdist that compiles
against a C library fails with a compiler or pkg-config message that names a header, a
library or a `*-config` tool. `missing_system_hint` reads those messages and names the
Debian package to install (a fixed table of the libraries Python packages commonly build
against), or, for one it does not know, says which file was missing.
"""

from __future__ import annotations

import re

# header / pkg-config name / linker library / config tool -> Debian package
DEBIAN_PACKAGES: dict[str, str] = {
    "hdf5": "libhdf5-dev",
    "hdf5.h": "libhdf5-dev",
    "netcdf": "libnetcdf-dev",
    "netcdf.h": "libnetcdf-dev",
    "nc-config": "libnetcdf-dev",
    "ft2build.h": "libfreetype-dev",
    "freetype2": "libfreetype-dev",
    "freetype": "libfreetype-dev",
    "png.h": "libpng-dev",
    "libpng": "libpng-dev",
    "png": "libpng-dev",
    "jpeglib.h": "libjpeg-dev",
    "jpeg": "libjpeg-dev",
    "zlib.h": "zlib1g-dev",
    "zlib": "zlib1g-dev",
    "z": "zlib1g-dev",
    "ffi.h": "libffi-dev",
    "libffi": "libffi-dev",
    "openssl/ssl.h": "libssl-dev",
    "openssl": "libssl-dev",
    "ssl": "libssl-dev",
    "crypto": "libssl-dev",
    "libxml/xmlversion.h": "libxml2-dev",
    "libxml-2.0": "libxml2-dev",
    "xml2-config": "libxml2-dev",
    "libxslt/xsltconfig.h": "libxslt1-dev",
    "libxslt": "libxslt1-dev",
    "xslt-config": "libxslt1-dev",
    "yaml.h": "libyaml-dev",
    "yaml-0.1": "libyaml-dev",
    "sqlite3.h": "libsqlite3-dev",
    "sqlite3": "libsqlite3-dev",
    "lzma.h": "liblzma-dev",
    "bzlib.h": "libbz2-dev",
    "gmp.h": "libgmp-dev",
    "gmp": "libgmp-dev",
    "mpfr.h": "libmpfr-dev",
    "cairo.h": "libcairo2-dev",
    "cairo": "libcairo2-dev",
    "pg_config": "libpq-dev",
    "libpq-fe.h": "libpq-dev",
    "mysql_config": "default-libmysqlclient-dev",
    "mysql.h": "default-libmysqlclient-dev",
    "gdal-config": "libgdal-dev",
    "geos-config": "libgeos-dev",
    "geos_c.h": "libgeos-dev",
    "proj.h": "libproj-dev",
    "proj": "libproj-dev",
    "krb5-config": "libkrb5-dev",
    "blas": "libopenblas-dev",
    "openblas": "libopenblas-dev",
    "lapack": "liblapack-dev",
    "cblas.h": "libopenblas-dev",
    "gfortran": "gfortran",
    "sndfile.h": "libsndfile1-dev",
    "tiff.h": "libtiff-dev",
    "webp/decode.h": "libwebp-dev",
    "lcms2.h": "liblcms2-dev",
    "pkg-config": "pkg-config",
    "gcc": "gcc",
    "g++": "g++",
    "cc": "gcc",
    "make": "make",
    "git": "git",
    "patch": "patch",
}

_MESSAGES = (
    re.compile(r"fatal error: ([\w./+-]+): No such file or directory"),
    re.compile(
        r"Package '?([\w.+-]+)'?,? (?:was not found in the pkg-config search path|"
        r"required by '[^']*', not found)"
    ),
    re.compile(r"cannot find -l([\w.+-]+)"),
    re.compile(r"\b([\w.+-]+-config): (?:command )?not found"),
    re.compile(r"(?:^|\s)([\w.+-]+): (?:command )?not found", re.MULTILINE),
    re.compile(r"error: command '(?:[\w/]*/)?([\w.+-]+)' failed: No such file or directory"),
    re.compile(r"library '?([\w.+-]+)'? (?:was )?not found", re.IGNORECASE),
)


def missing_system_files(output: str) -> list[str]:
    """Headers, pkg-config names, libraries and tools `output` says are missing (in order,
    each once)."""
    found: dict[str, None] = {}
    for pattern in _MESSAGES:
        for match in pattern.finditer(output):
            found.setdefault(match.group(1), None)
    return list(found)


def missing_system_hint(output: str) -> str:
    """One line naming the Debian packages a failed build lacked ("" when the output names
    nothing missing from the system)."""
    packages: dict[str, list[str]] = {}
    unknown: list[str] = []
    for name in missing_system_files(output):
        package = DEBIAN_PACKAGES.get(name) or DEBIAN_PACKAGES.get(name.lower())
        if package is None and name.startswith("lib"):
            package = DEBIAN_PACKAGES.get(name.removeprefix("lib"))
        if package is not None:
            packages.setdefault(package, []).append(name)
        elif name.endswith(".h") or name.endswith("-config"):
            unknown.append(name)
    if not packages and not unknown:
        return ""
    parts = [f"{package} (for {', '.join(names)})" for package, names in packages.items()]
    if unknown:
        parts.append("the Debian package providing " + ", ".join(unknown))
    return (
        "missing from the system: install "
        + "; ".join(parts)
        + " (local backend: on the host, whose /usr builds see; docker: in the base image)\n"
    )
