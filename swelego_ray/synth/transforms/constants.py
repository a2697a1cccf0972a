"""Constant transforms: literal values and off-by-one bounds of ranges and slices."""

from __future__ import annotations

import libcst as cst

from swelego_ray.synth.transforms._base import BugTransform


def _plus(expr: cst.BaseExpression, delta: int) -> cst.BaseExpression:
    """`expr + 1` / `expr - 1`, folded into an integer literal when `expr` is one."""
    if isinstance(expr, cst.Integer):
        value = int(expr.value, 0) + delta
        if value >= 0:
            return expr.with_changes(value=str(value))
    op = cst.Add() if delta > 0 else cst.Subtract()
    operand = expr
    if isinstance(expr, cst.BinaryOperation | cst.BooleanOperation | cst.IfExp | cst.Lambda):
        operand = expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.BinaryOperation(left=operand, operator=op, right=cst.Integer(str(abs(delta))))


class ChangeConstant(BugTransform):
    """Change one literal: an integer by +-1 (or 0 <-> 1), a float by a little, True <->
    False."""

    name = "change_constant"
    explanation = "A constant value was changed."

    def eligible(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Integer | cst.Float):
            return True
        return isinstance(node, cst.Name) and node.value in ("True", "False")

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode | None:
        if isinstance(node, cst.Name):
            return node.with_changes(value="False" if node.value == "True" else "True")
        if isinstance(node, cst.Integer):
            try:
                value = int(node.value.replace("_", ""), 0)
            except ValueError:
                return None
            new = value + self.rng.choice((-1, 1)) if value > 1 else 1 - value
            return node.with_changes(value=str(new))
        assert isinstance(node, cst.Float)
        try:
            value = float(node.value.replace("_", ""))
        except ValueError:
            return None
        return node.with_changes(value=repr(value * 2 if value else 1.0))


class OffByOne(BugTransform):
    """Shift one bound by one: the stop (or start) of a `range(...)` call, or a bound of
    a slice `x[a:b]`."""

    name = "off_by_one"
    explanation = "A range or slice bound is off by one."

    def eligible(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Slice):
            return node.lower is not None or node.upper is not None
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == "range"
            and 1 <= len(node.args) <= 3
            and all(a.keyword is None and not a.star for a in node.args)
        )

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode | None:
        delta = self.rng.choice((-1, 1))
        if isinstance(node, cst.Slice):
            bounds = [b for b in ("lower", "upper") if getattr(node, b) is not None]
            which = self.rng.choice(bounds)
            return node.with_changes(**{which: _plus(getattr(node, which), delta)})
        assert isinstance(node, cst.Call)
        args = list(node.args)
        index = 0 if len(args) == 1 else self.rng.choice((0, 1))
        args[index] = args[index].with_changes(value=_plus(args[index].value, delta))
        return node.with_changes(args=args)
