"""The package layers of swelego_ray, checked statically (ast, nothing is imported).

A package is a top-level subpackage or top-level module of swelego_ray. Rules:
- every package belongs to exactly one layer (LAYERS, highest first);
- a package imports only packages of its own layer or of layers below it;
- no import cycle between packages (also within one layer);
- no module imports another package's private module (`swelego_ray.<pkg>._<name>`) or a
  private name from another package (`from swelego_ray.<pkg> import _<name>`); the
  scripts outside the package (jobs/, benchmarks/, scripts/, examples/) import none.
Imports inside functions and under TYPE_CHECKING count like any other. The layering is
described in docs/architecture.md.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "swelego_ray"

# Highest first: a package may import its own layer and the layers after it.
LAYERS: list[tuple[str, frozenset[str]]] = [
    ("entry points", frozenset({"cli", "demo", "demo_tts"})),
    ("over stages' outputs", frozenset({"report", "ablate"})),
    ("services", frozenset({"serve"})),
    ("stages", frozenset({"validate", "evaluate", "sft", "cache", "cluster", "synth", "rollout"})),
    ("stage plumbing", frozenset({"engine", "runconfig", "jobs", "_ray", "samples", "models"})),
    (
        "one task in one sandbox",
        frozenset({"harness", "patching", "grading", "evidence", "sanitise", "testlogs", "agent"}),
    ),
    ("environments", frozenset({"envs"})),
    ("sandbox", frozenset({"sandbox"})),
    ("model endpoints", frozenset({"llm"})),
    ("data (knows no execution)", frozenset({"schema", "storage", "gitsafe", "funnel"})),
]
RANK = {pkg: rank for rank, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}
LAYER_NAME = {pkg: name for name, pkgs in LAYERS for pkg in pkgs}
SCRIPT_DIRS = ("jobs", "benchmarks", "scripts", "examples")


@dataclass(frozen=True)
class Import:
    """One import of another package: where it is and what it names."""

    source: Path
    line: int
    package: str  # the importing package
    target: str  # the imported package
    name: str  # dotted name imported, e.g. swelego_ray.sandbox._bwrap.Mount

    def where(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}"


def packages() -> set[str]:
    """Top-level subpackages and modules of swelego_ray (not __init__)."""
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    found |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return found


def _module_parts(path: Path) -> tuple[list[str], bool]:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    is_init = parts[-1] == "__init__"
    return (parts[:-1] if is_init else parts), is_init


def _imported_names(node: ast.AST, parts: list[str], is_init: bool) -> list[str]:
    """The dotted names an import statement brings in (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = node.module or ""
    if node.level:
        base = parts if is_init else parts[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, *([module] if module else [])])
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def cross_imports() -> list[Import]:
    """Every import in swelego_ray of a package other than the importing one."""
    known = packages()
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts, is_init = _module_parts(path)
        if len(parts) < 2:
            continue  # swelego_ray/__init__.py itself
        own = parts[1]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported_names(node, parts, is_init):
                dotted = name.split(".")
                if dotted[0] != "swelego_ray" or len(dotted) < 2 or dotted[1] not in known:
                    continue
                if dotted[1] != own:
                    found.append(Import(path, node.lineno, own, dotted[1], name))
    return found


def private_violations(imports: list[Import]) -> list[str]:
    """Imports that reach into another package's private module or name."""
    out = set()
    for imp in imports:
        dotted = imp.name.split(".")
        if len(dotted) > 2 and dotted[2].startswith("_") and not dotted[2].startswith("__"):
            out.add(
                f"{imp.where()}: {imp.package} imports {'.'.join(dotted[:3])}, "
                f"private to package {imp.target}"
            )
    return sorted(out)


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports that go up the layers (or involve a package no layer lists)."""
    out = set()
    for imp in imports:
        for pkg in (imp.package, imp.target):
            if pkg not in RANK:
                out.add(f"package {pkg} is in no layer: add it to LAYERS in {__name__}")
        if imp.package in RANK and imp.target in RANK and RANK[imp.target] < RANK[imp.package]:
            out.add(
                f"{imp.where()}: {imp.package} ({LAYER_NAME[imp.package]}) imports "
                f"{imp.target} ({LAYER_NAME[imp.target]}), a layer above it"
            )
    return sorted(out)


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycle_violations(imports: list[Import]) -> list[str]:
    """Every import that is part of a cycle between packages."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.package, set()).add(imp.target)
    out = []
    for component in _cycles(graph):
        members = ", ".join(sorted(component))
        for imp in imports:
            if imp.package in component and imp.target in component:
                line = f"{imp.where()}: {imp.package} imports {imp.target} (cycle: {members})"
                out.append(line)
    return sorted(set(out))


def script_private_imports(dirs: tuple[str, ...] = SCRIPT_DIRS) -> list[str]:
    """Private modules of swelego_ray imported by the scripts outside the package (jobs,
    benchmarks, scripts, examples): they use the library's public API only."""
    known = packages()
    out = set()
    for folder in dirs:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level:
                    continue  # a script's own sibling modules
                for name in _imported_names(node, [], False):
                    dotted = name.split(".")
                    if dotted[0] != "swelego_ray" or len(dotted) < 3 or dotted[1] not in known:
                        continue
                    if dotted[2].startswith("_") and not dotted[2].startswith("__"):
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        out.add(f"{where}: imports {'.'.join(dotted[:3])}, private to {dotted[1]}")
    return sorted(out)


def _report(kind: str, violations: list[str]) -> str:
    return f"{len(violations)} {kind}:\n" + "\n".join(violations)


def test_every_package_is_in_exactly_one_layer() -> None:
    listed = [pkg for _, pkgs in LAYERS for pkg in pkgs]
    assert len(listed) == len(set(listed)), "a package is listed in two layers"
    assert sorted(packages() - set(listed)) == [], "packages in no layer"
    assert sorted(set(listed) - packages()) == [], "layers list packages that do not exist"


def test_no_package_imports_a_layer_above_it() -> None:
    violations = layer_violations(cross_imports())
    assert not violations, _report("imports against the layering", violations)


def test_no_import_cycle_between_packages() -> None:
    violations = cycle_violations(cross_imports())
    assert not violations, _report("imports in cycles", violations)


def test_no_package_imports_another_packages_private_module() -> None:
    violations = private_violations(cross_imports())
    assert not violations, _report("imports of private modules", violations)


def test_scripts_outside_the_package_import_no_private_module() -> None:
    violations = script_private_imports()
    assert not violations, _report("imports of private modules by scripts", violations)


def test_schema_imports_nothing_from_agent() -> None:
    found = [
        imp.where() for imp in cross_imports() if (imp.package, imp.target) == ("schema", "agent")
    ]
    assert not found, f"schema imports agent at: {', '.join(found)}"


# The checker itself, on a small package tree written for each case.


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write files under a fake swelego_ray and point the checker at it."""
    package = tmp_path / "swelego_ray"

    def write(files: dict[str, str]) -> list[Import]:
        for rel, text in files.items():
            path = package / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (package / "__init__.py").touch()
        return cross_imports()

    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    return write


def test_checker_reports_a_cycle_with_file_and_line(tree) -> None:
    imports = tree(
        {
            "sandbox/__init__.py": "",
            "sandbox/local.py": "import os\nfrom swelego_ray.envs.builder import EnvBuilder\n",
            "envs/__init__.py": "",
            "envs/builder.py": "def f():\n    from swelego_ray import sandbox\n",
        }
    )
    assert cycle_violations(imports) == [
        "swelego_ray/envs/builder.py:2: envs imports sandbox (cycle: envs, sandbox)",
        "swelego_ray/sandbox/local.py:2: sandbox imports envs (cycle: envs, sandbox)",
    ]
    assert layer_violations(imports) == [
        "swelego_ray/sandbox/local.py:2: sandbox (sandbox) imports envs (environments), "
        "a layer above it"
    ]


def test_checker_reports_private_modules_and_names(tree) -> None:
    imports = tree(
        {
            "sandbox/__init__.py": "",
            "sandbox/_bwrap.py": "",
            "envs/__init__.py": "",
            "envs/a.py": "from swelego_ray.sandbox._bwrap import Mount\n",
            "envs/b.py": "from swelego_ray.sandbox import _bwrap, get_backend\n",
            "envs/c.py": "from ..sandbox import _bwrap\n",
            "envs/d.py": "from swelego_ray.envs import _spec\nfrom swelego_ray.sandbox import X\n",
        }
    )
    private = "envs imports swelego_ray.sandbox._bwrap, private to package sandbox"
    assert private_violations(imports) == [
        f"swelego_ray/envs/{name}.py:1: {private}" for name in ("a", "b", "c")
    ]
    assert layer_violations(imports) == cycle_violations(imports) == []


def test_checker_reports_private_imports_of_scripts(tree, tmp_path: Path) -> None:
    tree({"sandbox/__init__.py": "", "sandbox/_states.py": ""})
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "run.py").write_text(
        "from swelego_ray.sandbox import Limits\nfrom swelego_ray.sandbox._states import S\n"
    )
    assert script_private_imports(("jobs",)) == [
        "jobs/run.py:2: imports swelego_ray.sandbox._states, private to sandbox"
    ]


def test_checker_names_a_package_in_no_layer(tree) -> None:
    imports = tree({"newthing.py": "import swelego_ray.schema\n", "schema/__init__.py": ""})
    assert layer_violations(imports) == [
        f"package newthing is in no layer: add it to LAYERS in {__name__}"
    ]
