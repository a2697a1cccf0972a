"""ModuleText: a module's text with one function rewritten or removed is byte-identical to
libcst's `deep_replace` / `deep_remove` result, for every family at every function."""

from __future__ import annotations

import libcst as cst
import pytest

from swelego_ray.synth.splice import ModuleText
from swelego_ray.synth.targets import functions
from swelego_ray.synth.transforms import TRANSFORMS, transform

SOURCE = '''#!/usr/bin/env python
# a header comment

"""Module docstring."""
import os


def first(a, b=2):
    if a > b and not a:
        return a + 1
    return [x for x in range(a)][1:]


class Box:
    """A box."""

    size = 3

    @property
    def area(self):
        total = self.size * self.size
        while total > 10:
            total -= 1
        return total

    def grow(self, by=1):
        self.size = self.size + by
        return os.path.join("a", str(self.size))


def last(items):
    out = []
    for item in items:
        if item is None:
            break
        out.append(item)
    return out
# a footer comment
'''


def _deep(module: cst.Module, func: cst.FunctionDef, new) -> str:
    if isinstance(new, cst.RemovalSentinel):
        return module.deep_remove(func).code  # type: ignore[union-attr]
    return module.deep_replace(func, new).code  # type: ignore[union-attr]


@pytest.mark.parametrize("source", [SOURCE, SOURCE.rstrip("\n")], ids=["newline", "no_newline"])
def test_splice_matches_deep_replace(source: str):
    module = cst.parse_module(source)
    text = ModuleText(module)
    checked = 0
    for _, func, _ in functions(module):
        for name in TRANSFORMS:
            new = transform(name, 7).apply(func)
            if new is None:
                continue
            assert text.replaced(func, new) == _deep(module, func, new), (func.name.value, name)
            checked += 1
        assert text.replaced(func, cst.RemovalSentinel.REMOVE) == _deep(
            module, func, cst.RemovalSentinel.REMOVE
        )
    assert checked >= 20
    with pytest.raises(ValueError, match="not in this module"):
        text.replaced(cst.parse_module("def other():\n    pass\n").body[0], module.body[0])  # type: ignore[arg-type]
