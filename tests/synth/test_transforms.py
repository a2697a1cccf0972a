"""The AST transform families: each rewrites one site as documented, seeded, and the
registry lists every family defined in the package."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import libcst as cst
import pytest

from swelego_ray.synth import transforms as transforms_pkg
from swelego_ray.synth.transforms import TRANSFORMS, BugTransform, transform


def _apply(name: str, source: str, seed: int = 0) -> str | None:
    module = cst.parse_module(source)
    func = next(n for n in module.body if isinstance(n, cst.FunctionDef))
    new = transform(name, seed).apply(func)
    if new is None:
        return None
    changed = (
        module.deep_remove(func)
        if isinstance(new, cst.RemovalSentinel)
        else (module.deep_replace(func, new))
    )
    return changed.code


def test_registry_lists_every_transform_class():
    defined = set()
    for info in pkgutil.iter_modules(transforms_pkg.__path__):
        module = importlib.import_module(f"{transforms_pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BugTransform) and cls.name and cls.__module__ == module.__name__:
                defined.add(cls)
    assert defined == set(TRANSFORMS.values())
    assert len(TRANSFORMS) >= 12
    for name, cls in TRANSFORMS.items():
        assert cls.name == name and cls.__doc__ and cls.explanation


CASES = [
    (
        "change_comparison",
        "def f(a, b):\n    return a < b\n",
        {"def f(a, b):\n    return a <= b\n"},
    ),
    ("change_arithmetic", "def f(a, b):\n    return a + b\n", {"def f(a, b):\n    return a - b\n"}),
    (
        "change_boolean_operator",
        "def f(a, b):\n    return a and b\n",
        {"def f(a, b):\n    return a or b\n"},
    ),
    ("swap_operands", "def f(a, b):\n    return a - b\n", {"def f(a, b):\n    return b - a\n"}),
    ("drop_unary_operator", "def f(a):\n    return not a\n", {"def f(a):\n    return a\n"}),
    (
        "change_constant",
        "def f(a):\n    return a * 5\n",
        {"def f(a):\n    return a * 4\n", "def f(a):\n    return a * 6\n"},
    ),
    (
        "off_by_one",
        "def f(n):\n    return list(range(n))\n",
        {
            "def f(n):\n    return list(range(n + 1))\n",
            "def f(n):\n    return list(range(n - 1))\n",
        },
    ),
    (
        "invert_condition",
        "def f(a):\n    if a:\n        return 1\n    return 2\n",
        {"def f(a):\n    if not a:\n        return 1\n    return 2\n"},
    ),
    (
        "drop_condition",
        "def f(a):\n    if a > 1:\n        a = 0\n    return a\n",
        {"def f(a):\n    a = 0\n    return a\n", "def f(a):\n    return a\n"},
    ),
    (
        "swap_if_else",
        "def f(a):\n    if a:\n        x = 1\n    else:\n        x = 2\n    return x\n",
        {"def f(a):\n    if a:\n        x = 2\n    else:\n        x = 1\n    return x\n"},
    ),
    (
        "drop_statement",
        "def f(xs):\n    xs.append(1)\n    return xs\n",
        {"def f(xs):\n    return xs\n"},
    ),
    ("drop_assignment", "def f(a):\n    a = a * 2\n    return a\n", {"def f(a):\n    return a\n"}),
    (
        "drop_return",
        "def f(a):\n    if a:\n        return 1\n    return 2\n",
        {
            "def f(a):\n    if a:\n        pass\n    return 2\n",
            "def f(a):\n    if a:\n        return 1\n",
        },
    ),
    (
        "drop_loop_exit",
        "def f(xs):\n    for x in xs:\n        if x:\n            break\n    return x\n",
        {"def f(xs):\n    for x in xs:\n        if x:\n            pass\n    return x\n"},
    ),
    (
        "shuffle_lines",
        "def f(a):\n    b = a + 1\n    c = b * 2\n    return c\n",
        {"def f(a):\n    c = b * 2\n    b = a + 1\n    return c\n"},
    ),
    (
        "drop_wrapper_call",
        "def f(text):\n    return int(text.strip())\n",
        {"def f(text):\n    return text.strip()\n"},
    ),
    (
        "drop_default_argument",
        "def f(a, b=1, c=2):\n    return a + b + c\n",
        {"def f(a, b, c=2):\n    return a + b + c\n"},
    ),
    (
        "drop_keyword_argument",
        "def f(xs):\n    return sorted(xs, reverse=True)\n",
        {"def f(xs):\n    return sorted(xs)\n"},
    ),
]


@pytest.mark.parametrize(("name", "source", "expected"), CASES, ids=[c[0] for c in CASES])
def test_transform_rewrites_one_site(name: str, source: str, expected: set[str]):
    outputs = {_apply(name, source, seed) for seed in range(6)}
    assert outputs <= expected, outputs - expected
    for out in outputs:
        compile(out, "<test>", "exec")


def test_remove_method_and_no_site():
    source = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    module = cst.parse_module(source)
    cls = module.body[0]
    g = cls.body.body[1]
    assert transform("remove_method", 0).apply(g) is cst.RemovalSentinel.REMOVE
    assert "def g" not in module.deep_remove(g).code
    assert _apply("change_comparison", "def f(a):\n    return a + 1\n") is None  # no site


def test_same_seed_same_site_different_seeds_spread():
    source = "def f(a, b, c):\n    return (a < b, b < c, a < c, a > b, c > a)\n"
    assert _apply("change_comparison", source, 3) == _apply("change_comparison", source, 3)
    assert len({_apply("change_comparison", source, s) for s in range(20)}) > 2
