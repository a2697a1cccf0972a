"""Bug-injecting libcst transforms, one small class per family, and their registry.

from swelego_ray.synth.transforms import TRANSFORMS, transform
new_func = transform("change_comparison", seed=7).apply(func)  # None: nothing to change
"""

from __future__ import annotations

from swelego_ray.synth.transforms._base import BugTransform, is_docstring
from swelego_ray.synth.transforms.constants import ChangeConstant, OffByOne
from swelego_ray.synth.transforms.control_flow import DropCondition, InvertCondition, SwapIfElse
from swelego_ray.synth.transforms.operators import (
    ChangeArithmetic,
    ChangeBooleanOperator,
    ChangeComparison,
    DropUnaryOperator,
    SwapOperands,
)
from swelego_ray.synth.transforms.remove import (
    DropAssignment,
    DropDefaultArgument,
    DropKeywordArgument,
    DropLoopExit,
    DropReturn,
    DropStatement,
    DropWrapperCall,
    RemoveMethod,
    ShuffleLines,
)

_CLASSES: tuple[type[BugTransform], ...] = (
    ChangeComparison,
    ChangeArithmetic,
    ChangeBooleanOperator,
    SwapOperands,
    DropUnaryOperator,
    ChangeConstant,
    OffByOne,
    InvertCondition,
    DropCondition,
    SwapIfElse,
    DropStatement,
    DropAssignment,
    DropReturn,
    DropLoopExit,
    ShuffleLines,
    DropWrapperCall,
    DropDefaultArgument,
    DropKeywordArgument,
    RemoveMethod,
)

TRANSFORMS: dict[str, type[BugTransform]] = {cls.name: cls for cls in _CLASSES}
"""Every transform family by name, in a fixed order (the order candidates are tried)."""


def transform(name: str, seed: int) -> BugTransform:
    """A fresh transform `name` with its own RNG seeded by `seed`."""
    try:
        return TRANSFORMS[name](seed)
    except KeyError:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}") from None


__all__ = [
    "TRANSFORMS",
    "BugTransform",
    "is_docstring",
    "transform",
    *(c.__name__ for c in _CLASSES),
]
