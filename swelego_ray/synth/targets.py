"""Targets: the non-trivial functions and methods of a repository's library code."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from swelego_ray.synth.repos import RepoSnapshot, is_source_path
from swelego_ray.synth.transforms import is_docstring

MIN_STATEMENTS = 3


@dataclass(frozen=True)
class Target:
    """One function: `qualname` is `name` or `Class.name` (top-level classes only)."""

    file: str
    qualname: str
    statements: int  # statements in its body, nested ones included, docstring excluded
    lines: int
    class_members: int = 0  # statements in the enclosing class body (0: not a method)

    @property
    def is_method(self) -> bool:
        return self.class_members > 0


def parse(text: str) -> cst.Module | None:
    """The module, or None when libcst cannot parse it (or the host Python cannot compile
    it: targets must be checkable with `compile`)."""
    try:
        compile(text, "<target>", "exec", dont_inherit=True)
        return cst.parse_module(text)
    except (SyntaxError, ValueError, cst.ParserSyntaxError):
        return None


def functions(module: cst.Module) -> list[tuple[str, cst.FunctionDef, int]]:
    """(qualname, node, class body size) of top-level functions and methods of top-level
    classes, in file order."""
    found: list[tuple[str, cst.FunctionDef, int]] = []
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            found.append((stmt.name.value, stmt, 0))
        elif isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            members = len(stmt.body.body)
            for inner in stmt.body.body:
                if isinstance(inner, cst.FunctionDef):
                    found.append((f"{stmt.name.value}.{inner.name.value}", inner, members))
    return found


def find_function(module: cst.Module, qualname: str) -> cst.FunctionDef | None:
    return next((node for name, node, _ in functions(module) if name == qualname), None)


class _StatementCounter(cst.CSTVisitor):
    def __init__(self) -> None:
        self.count = 0
        self.trivial = True  # only pass / docstrings / raise NotImplementedError so far

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if is_docstring(node):
            return
        self.count += 1
        if not all(_is_placeholder(s) for s in node.body):
            self.trivial = False

    def visit_BaseCompoundStatement(self, node: cst.BaseCompoundStatement) -> None:
        self.count += 1
        self.trivial = False


def _is_placeholder(stmt: cst.BaseSmallStatement) -> bool:
    if isinstance(stmt, cst.Pass):
        return True
    if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Ellipsis):
        return True
    if isinstance(stmt, cst.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, cst.Call) else stmt.exc
        return isinstance(exc, cst.Name) and exc.value == "NotImplementedError"
    return False


def measure(func: cst.FunctionDef) -> tuple[int, bool]:
    """(statements in the body, trivial?)."""
    counter = _StatementCounter()
    func.body.visit(counter)
    return counter.count, counter.trivial


def find_targets(
    snapshot: RepoSnapshot, *, min_statements: int = MIN_STATEMENTS
) -> tuple[list[Target], dict[str, cst.Module]]:
    """Every non-trivial function of the library code (sorted by file and position) and
    the parsed modules they are in. Trivial: fewer than `min_statements` statements, or
    only `pass`, docstrings, `...` and `raise NotImplementedError`."""
    targets: list[Target] = []
    modules: dict[str, cst.Module] = {}
    for path in snapshot.files():
        if not is_source_path(path):
            continue
        text = snapshot.read(path)
        module = parse(text) if text is not None else None
        if module is None:
            continue
        modules[path] = module
        for qualname, node, members in functions(module):
            count, trivial = measure(node)
            if trivial or count < min_statements:
                continue
            lines = len(module.code_for_node(node).strip("\n").splitlines())
            targets.append(Target(path, qualname, count, lines, members))
    return targets, modules
