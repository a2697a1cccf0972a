"""Operator transforms: comparisons, arithmetic, boolean and unary operators, operands."""

from __future__ import annotations

import libcst as cst

from swelego_ray.synth.transforms._base import BugTransform

_COMPARISONS: dict[type, type] = {
    cst.Equal: cst.NotEqual,
    cst.NotEqual: cst.Equal,
    cst.LessThan: cst.LessThanEqual,
    cst.LessThanEqual: cst.LessThan,
    cst.GreaterThan: cst.GreaterThanEqual,
    cst.GreaterThanEqual: cst.GreaterThan,
    cst.In: cst.NotIn,
    cst.NotIn: cst.In,
    cst.Is: cst.IsNot,
    cst.IsNot: cst.Is,
}

_ARITHMETIC: dict[type, type] = {
    cst.Add: cst.Subtract,
    cst.Subtract: cst.Add,
    cst.Multiply: cst.FloorDivide,
    cst.FloorDivide: cst.Multiply,
    cst.Divide: cst.Multiply,
    cst.Modulo: cst.FloorDivide,
    cst.Power: cst.Multiply,
}

_AUGMENTED: dict[type, type] = {
    cst.AddAssign: cst.SubtractAssign,
    cst.SubtractAssign: cst.AddAssign,
    cst.MultiplyAssign: cst.FloorDivideAssign,
    cst.FloorDivideAssign: cst.MultiplyAssign,
}

_NON_COMMUTATIVE = (cst.Subtract, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)


def _same_spacing(old: cst.CSTNode, new_type: type) -> cst.CSTNode:
    """An operator node of `new_type` with `old`'s whitespace (`not in` / `is not` carry
    a middle whitespace the others lack)."""
    kwargs = {"whitespace_before": old.whitespace_before, "whitespace_after": old.whitespace_after}
    return new_type(**kwargs)


class ChangeComparison(BugTransform):
    """Flip one comparison operator: == / !=, < / <=, > / >=, in / not in, is / is not."""

    name = "change_comparison"
    explanation = "A comparison operator was changed."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.ComparisonTarget) and type(node.operator) in _COMPARISONS

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.ComparisonTarget)
        return node.with_changes(
            operator=_same_spacing(node.operator, _COMPARISONS[type(node.operator)])
        )


class ChangeArithmetic(BugTransform):
    """Swap one arithmetic operator (+ / -, * / //, / -> *, % -> //, ** -> *), in a binary
    expression or an augmented assignment."""

    name = "change_arithmetic"
    explanation = "An arithmetic operator was changed."

    def eligible(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BinaryOperation):
            return type(node.operator) in _ARITHMETIC and not _is_string_format(node)
        return isinstance(node, cst.AugAssign) and type(node.operator) in _AUGMENTED

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        table = _ARITHMETIC if isinstance(node, cst.BinaryOperation) else _AUGMENTED
        op = node.operator  # type: ignore[attr-defined]
        return node.with_changes(operator=_same_spacing(op, table[type(op)]))


def _is_string_format(node: cst.BinaryOperation) -> bool:
    """`"..." % args` and string concatenation: changing them mostly gives a TypeError
    at once, a crash rather than a bug worth a task."""
    strings = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)
    return isinstance(node.left, strings) or isinstance(node.right, strings)


class ChangeBooleanOperator(BugTransform):
    """Swap one `and` for `or` or the reverse."""

    name = "change_boolean_operator"
    explanation = "A boolean operator was changed."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.BooleanOperation)

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.BooleanOperation)
        new = cst.Or if isinstance(node.operator, cst.And) else cst.And
        return node.with_changes(operator=_same_spacing(node.operator, new))


class SwapOperands(BugTransform):
    """Swap the operands of one non-commutative binary operation (a - b -> b - a) or of a
    single comparison (a < b -> b < a)."""

    name = "swap_operands"
    explanation = "The operands of an operation were swapped."

    def eligible(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BinaryOperation):
            return isinstance(node.operator, _NON_COMMUTATIVE) and not _is_string_format(node)
        return (
            isinstance(node, cst.Comparison)
            and len(node.comparisons) == 1
            and not isinstance(node.comparisons[0].operator, cst.Equal | cst.NotEqual)
        )

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode | None:
        if isinstance(node, cst.BinaryOperation):
            return node.with_changes(left=node.right, right=node.left)
        assert isinstance(node, cst.Comparison)
        target = node.comparisons[0]
        if isinstance(target.operator, cst.In | cst.NotIn | cst.Is | cst.IsNot):
            return None  # `x in y` -> `y in x` is rarely meaningful
        return node.with_changes(
            left=target.comparator, comparisons=[target.with_changes(comparator=node.left)]
        )


class DropUnaryOperator(BugTransform):
    """Remove one `not` or unary minus: `not x` -> `x`, `-x` -> `x`."""

    name = "drop_unary_operator"
    explanation = "A negation was removed."

    def eligible(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.UnaryOperation) and isinstance(
            node.operator, cst.Not | cst.Minus
        )

    def mutate(self, node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.UnaryOperation)
        inner = node.expression  # the operation's own parentheses stay around what remains
        return inner.with_changes(lpar=[*node.lpar, *inner.lpar], rpar=[*inner.rpar, *node.rpar])
