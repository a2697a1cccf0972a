"""Control-flow transforms: inverted, dropped and swapped conditions."""

from __future__ import annotations

import libcst as cst

from swelego_ray.synth.transforms._base import BugTransform


def _negate(test: cst.BaseExpression) -> cst.BaseExpression:
    """`not (test)`, or the inner expression when `test` is already a `not`."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = test.expression
        return inner.with_changes(lpar=[], rpar=[]) if not _needs_parens(inner) else inner
    if _needs_parens(test) and not test.lpar:
        test = test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.UnaryOperation(operator=cst.Not(), expression=test)


def _needs_parens(expr: cst.BaseExpression) -> bool:
    return isinstance(
        expr, cst.BooleanOperation | cst.Comparison | cst.IfExp | cst.NamedExpr | cst.Lambda
    )


class InvertCondition(BugTransform):
    """Negate the test of one `if` / `elif` / `while` or conditional expression."""

    name = "invert_condition"
    explanation = "A condition was inverted."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.If | cst.While | cst.IfExp)

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        return node.with_changes(test=_negate(node.test))  # type: ignore[attr-defined]


class DropCondition(BugTransform):
    """Drop the condition of one `if` without `else`: its body runs unconditionally, or
    (chosen with the seed) never."""

    name = "drop_condition"
    explanation = "A condition was removed: its code runs always or never."

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._elifs: set[int] = set()

    def visit_If(self, node: cst.If) -> None:
        if isinstance(node.orelse, cst.If):  # an `elif` cannot be flattened into its parent
            self._elifs.add(id(node.orelse))

    def eligible(self, node: cst.CSTNode) -> bool:
        return (
            isinstance(node, cst.If)
            and id(node) not in self._elifs
            and node.orelse is None
            and isinstance(node.body, cst.IndentedBlock)
        )

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode | cst.FlattenSentinel | cst.RemovalSentinel:
        assert isinstance(node, cst.If) and isinstance(node.body, cst.IndentedBlock)
        if self.rng.random() < 0.5:
            body = list(node.body.body)
            first = body[0].with_changes(leading_lines=node.leading_lines)
            return cst.FlattenSentinel([first, *body[1:]])
        return cst.RemovalSentinel.REMOVE


class SwapIfElse(BugTransform):
    """Swap the bodies of one `if ...: A else: B` (the test unchanged)."""

    name = "swap_if_else"
    explanation = "The branches of an if/else were swapped."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.If) and isinstance(node.orelse, cst.Else)

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.If) and isinstance(node.orelse, cst.Else)
        return node.with_changes(
            body=node.orelse.body, orelse=node.orelse.with_changes(body=node.body)
        )
