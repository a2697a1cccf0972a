"""The transform base: one seeded site choice inside one function, libcst in and out."""

from __future__ import annotations

import random
from typing import ClassVar

import libcst as cst


class BugTransform(cst.CSTTransformer):
    """Rewrite one eligible node (a "site") of a function, chosen with the seeded RNG.

    Subclasses set `name` and `explanation` and implement `eligible` (is this original node
    a site?) and `mutate` (the node's replacement, or None when this site gives nothing).
    Sites are counted in one pass and the chosen one rewritten in a second, both in the
    same post-order over the unchanged tree, so a seed picks the same site every time."""

    name: ClassVar[str] = ""
    explanation: ClassVar[str] = ""
    needs_method: ClassVar[bool] = False  # the target must be a method of a class

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed
        self.rng = random.Random(f"{self.name}:{seed}")
        self._target = -1
        self._seen = 0
        self._changed = False

    def eligible(self, node: cst.CSTNode) -> bool:
        raise NotImplementedError

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode | cst.RemovalSentinel | None:
        raise NotImplementedError

    def on_leave(self, original_node, updated_node):  # type: ignore[override]
        if not self.eligible(original_node):
            return updated_node
        index, self._seen = self._seen, self._seen + 1
        if index != self._target:
            return updated_node
        new = self.mutate(updated_node)
        if new is None:
            return updated_node
        self._changed = True
        return new

    def apply(self, func: cst.FunctionDef) -> cst.FunctionDef | cst.RemovalSentinel | None:
        """The function with one site rewritten, or None when it has no site (or the chosen
        site gives nothing)."""
        self._target, self._seen = -1, 0
        func.visit(self)  # count the sites
        if self._seen == 0:
            return None
        self._target, self._seen, self._changed = self.rng.randrange(self._seen), 0, False
        new = func.visit(self)
        return new if self._changed else None


def body_statements(block: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of an indented block (a one-line suite has none of its own)."""
    return list(block.body) if isinstance(block, cst.IndentedBlock) else []


def is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )
