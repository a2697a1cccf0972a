"""Removal transforms: statements, assignments, returns, loop exits, wrapper calls,
arguments and methods; and swapped lines."""

from __future__ import annotations

import libcst as cst

from swelego_ray.synth.transforms._base import BugTransform, is_docstring


def _single(node: cst.CSTNode, kinds: tuple[type, ...]) -> bool:
    """A statement line holding one small statement of one of `kinds`."""
    return (
        isinstance(node, cst.SimpleStatementLine)
        and len(node.body) == 1
        and isinstance(node.body[0], kinds)
    )


class _RemoveLine(BugTransform):
    """Remove one statement line matching `kinds` (an emptied block becomes `pass`)."""

    kinds: tuple[type, ...] = ()

    def eligible(self, node: cst.CSTNode) -> bool:
        return _single(node, self.kinds) and not is_docstring(node)

    def mutate(self, node: cst.CSTNode) -> cst.RemovalSentinel:
        return cst.RemovalSentinel.REMOVE


class DropStatement(_RemoveLine):
    """Remove one expression statement (usually a call made for its effect)."""

    name = "drop_statement"
    explanation = "A statement was removed."
    kinds = (cst.Expr,)


class DropAssignment(_RemoveLine):
    """Remove one assignment (plain, annotated with a value, or augmented)."""

    name = "drop_assignment"
    explanation = "An assignment was removed."
    kinds = (cst.Assign, cst.AugAssign, cst.AnnAssign)


class DropReturn(_RemoveLine):
    """Remove one `return <value>` (the code falls through, or returns None)."""

    name = "drop_return"
    explanation = "A return statement was removed."
    kinds = (cst.Return,)

    def eligible(self, node: cst.CSTNode) -> bool:
        return super().eligible(node) and node.body[0].value is not None  # type: ignore[attr-defined]


class DropLoopExit(_RemoveLine):
    """Remove one `break` or `continue`."""

    name = "drop_loop_exit"
    explanation = "A break or continue was removed from a loop."
    kinds = (cst.Break, cst.Continue)


class ShuffleLines(BugTransform):
    """Swap two adjacent simple statement lines of one block (the order mattered when
    the second reads what the first writes)."""

    name = "shuffle_lines"
    explanation = "Two lines were swapped."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.IndentedBlock) and bool(self._pairs(node))

    @staticmethod
    def _pairs(block: cst.IndentedBlock) -> list[int]:
        body = block.body

        def movable(stmt: cst.BaseStatement) -> bool:
            flow = (cst.Return, cst.Raise, cst.Break, cst.Continue)
            return (
                isinstance(stmt, cst.SimpleStatementLine)
                and not is_docstring(stmt)
                and not _single(stmt, flow)
                and not any(isinstance(s, cst.Global | cst.Nonlocal) for s in stmt.body)
            )

        return [i for i in range(len(body) - 1) if movable(body[i]) and movable(body[i + 1])]

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode | None:
        assert isinstance(node, cst.IndentedBlock)
        i = self.rng.choice(self._pairs(node))
        body = list(node.body)
        first, second = body[i], body[i + 1]
        if first.deep_equals(second):
            return None
        body[i] = second.with_changes(leading_lines=first.leading_lines)
        body[i + 1] = first.with_changes(leading_lines=second.leading_lines)
        return node.with_changes(body=body)


_WRAPPED = (
    cst.Call,
    cst.Name,
    cst.Attribute,
    cst.Subscript,
    cst.BinaryOperation,
    cst.ListComp,
    cst.GeneratorExp,
)


class DropWrapperCall(BugTransform):
    """Replace a one-argument call by its argument: f(g(x)) -> g(x), int(text) -> text."""

    name = "drop_wrapper_call"
    explanation = "A wrapping function call was removed."

    def eligible(self, node: cst.CSTNode) -> bool:
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name | cst.Attribute)
            and len(node.args) == 1
            and node.args[0].keyword is None
            and not node.args[0].star
            and isinstance(node.args[0].value, _WRAPPED)
        )

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.Call)
        inner = node.args[0].value
        if isinstance(inner, cst.GeneratorExp):  # f(x for x in y) -> [x for x in y]
            return cst.ListComp(elt=inner.elt, for_in=inner.for_in)
        return inner.with_changes(lpar=[*node.lpar, *inner.lpar], rpar=[*inner.rpar, *node.rpar])


class DropDefaultArgument(BugTransform):
    """Remove one parameter's default value (callers relying on it now fail or differ):
    the first positional parameter with a default, or any keyword-only one, so the
    signature stays legal."""

    name = "drop_default_argument"
    explanation = "A parameter lost its default value."

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._legal: set[int] = set()

    def visit_Parameters(self, node: cst.Parameters) -> None:
        first = next((p for p in node.params if p.default is not None), None)
        legal = ([first] if first is not None else []) + [
            p for p in node.kwonly_params if p.default is not None
        ]
        self._legal.update(id(p) for p in legal)

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Param) and id(node) in self._legal

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.Param)
        return node.with_changes(default=None, equal=cst.MaybeSentinel.DEFAULT)


class DropKeywordArgument(BugTransform):
    """Remove one keyword argument from a call (the callee's default applies instead)."""

    name = "drop_keyword_argument"
    explanation = "A keyword argument was left out of a call."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call) and any(
            a.keyword is not None and not a.star for a in node.args
        )

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.Call)
        indexes = [i for i, a in enumerate(node.args) if a.keyword is not None and not a.star]
        drop = self.rng.choice(indexes)
        args = [a for i, a in enumerate(node.args) if i != drop]
        if args and drop == len(node.args) - 1:  # no dangling comma after the new last one
            args[-1] = args[-1].with_changes(comma=node.args[drop].comma)
        return node.with_changes(args=args)


class RemoveMethod(BugTransform):
    """Remove one method from its class (not `__init__` / `__new__`; the class keeps
    other members)."""

    name = "remove_method"
    explanation = "A method was removed from a class."
    needs_method = True

    def apply(self, func: cst.FunctionDef) -> cst.FunctionDef | cst.RemovalSentinel | None:
        if func.name.value in ("__init__", "__new__"):
            return None
        return cst.RemovalSentinel.REMOVE

    def eligible(self, node: cst.CSTNode) -> bool:
        return False  # apply() decides: the target itself is the only site

    def mutate(self, node: cst.CSTNode) -> None:
        return None
