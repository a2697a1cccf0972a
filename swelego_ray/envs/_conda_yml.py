# ruff: noqa: UP031, UP037
# (runs on the environment's interpreter, Python 3.6+: quoted annotations, % formatting)
"""A conda environment.yml as pip requirements (SWE-bench's `packages: environment.yml`).

SWE-bench builds xarray and matplotlib 3.5+ environments with `conda env update -f
environment.yml`; venvs install the same list from the package index: conda names that
differ on PyPI are renamed (RENAMED), packages that exist only as conda packages (system
libraries, the interpreter itself) are left out and named on stderr, conda version
syntax (`=1.2`, `1.2.*`, `pkg 1.2`, a build string) becomes pip's, a `pip:` section is
taken as written. No YAML library: the file is read line by line (the environment.yml
shape: `dependencies:` then `- item` lines and one nested `- pip:` list), so the same
code runs inside the build sandbox on the environment's own interpreter (Python 3.6+, no
third-party modules): the build step embeds this module's source (PROGRAM) and the
wheelhouse calls conda_requirements on the host.
"""

import re
import sys

# conda-only packages: the interpreter, package tools, C/C++ libraries and programs
CONDA_ONLY = {
    "python", "pip", "hdf5", "libnetcdf", "netcdf-c", "cdms2", "tk", "ghostscript",
    "inkscape", "ffmpeg", "proj", "geos", "gdal-bin", "eccodes-c", "compilers",
    "cxx-compiler", "c-compiler", "pkg-config", "make", "cmake", "nodejs", "wxpython",
    "pygobject", "gtk3", "qt", "cairo", "freetype", "libpng", "zlib",
}  # fmt: skip
RENAMED = {
    "matplotlib-base": "matplotlib",
    "iris": "scitools-iris",
    "pytables": "tables",
    "python-graphviz": "graphviz",
    "pyqt": "PyQt5",
    "msgpack-python": "msgpack",
}
_NAME = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def _pip_spec(conda: str) -> str:
    """A conda version spec as pip's: `=1.2`, `=1.2.*`, `1.2`, `>=1,<2`, `=1.2=py_0`, `1.2 py_0`."""
    tokens = conda.split()
    if len(tokens) >= 2 and re.match(r"^[A-Za-z_]", tokens[-1]):
        tokens = tokens[:-1]  # `pkg 1.2 py310_0`: a build string
    spec = "".join(tokens)
    if not spec:
        return ""
    if spec[0].isdigit():
        spec = "==" + spec
    elif spec.startswith("=") and not spec.startswith("=="):
        version = spec[1:].split("=", 1)[0]  # `=1.2=py_0`: a build string after it
        return "==" + (version if version.endswith("*") else version + ".*")  # conda's fuzzy =
    return re.sub(r"^(==[^=,]+)=.*$", r"\1", spec)  # a build string after a second '='


def conda_requirements(text: str, dropped: "list[str] | None" = None) -> "list[str]":
    """Pip requirement lines for environment.yml `text`; conda-only names go to
    `dropped`."""
    out, in_deps, pip_indent = [], False, None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        item = line.strip()
        if indent == 0 and not item.startswith("-"):
            in_deps, pip_indent = item.startswith("dependencies:"), None
            continue
        if not in_deps or not item.startswith("-"):
            continue
        item = item[1:].strip()
        if pip_indent is not None and indent > pip_indent:
            if not item.startswith((".", "-e .")):
                out.append(item)
            continue
        pip_indent = None
        if re.match(r"^pip\s*:", item):
            pip_indent = indent
            continue
        match = _NAME.match(item)
        if match is None:
            continue
        name, extras, version = match.group(1), match.group(2) or "", match.group(3)
        if name.lower() in CONDA_ONLY:
            if dropped is not None:
                dropped.append(name)
            continue
        out.append(RENAMED.get(name.lower(), name) + extras + _pip_spec(version))
    return out


def main() -> None:
    dropped: "list[str]" = []
    with open(sys.argv[1]) as f:
        lines = conda_requirements(f.read(), dropped)
    print("\n".join(lines))
    if dropped:
        sys.stderr.write(
            "swelego: conda-only packages of %s not installed from the index: %s\n"
            % (sys.argv[1], ", ".join(dropped))
        )


if __name__ == "__main__":
    main()
