"""llm_rewrite on hand-written answers: code extraction, splicing with libcst, named
rejections, prompts rendered from their files."""

from __future__ import annotations

import pytest

from swelego_ray.synth.llm_rewrite import (
    Reject,
    Variant,
    extract_code,
    render_prompt,
    rewrite_messages,
    splice,
)

SOURCE = '''"""A small module."""

import math


class Stack:
    """A stack."""

    def __init__(self):
        self.items = []

    @property
    def size(self) -> int:
        """How many items."""
        count = 0
        for _ in self.items:
            count += 1
        return count


def area(radius: float, *, precise: bool = True) -> float:
    """The area of a circle."""
    value = math.pi * radius**2
    if precise:
        return value
    return round(value, 2)
'''


def answer(code: str, lang: str = "python") -> str:
    return f"Sure! Here it is:\n\n```{lang}\n{code}\n```\nThis changes the rounding."


BUGGY_AREA = '''def area(radius: float, *, precise: bool = True) -> float:
    """A different docstring the model wrote."""
    value = math.pi * radius * 2
    if precise:
        return value
    return round(value, 2)'''


def test_splice_keeps_signature_and_docstring_and_replaces_the_body():
    code = extract_code(answer(BUGGY_AREA), "area")
    result = splice(SOURCE, "area", code)
    assert result.reject is None, result.detail
    assert "value = math.pi * radius * 2" in result.new_text
    assert '"""The area of a circle."""' in result.new_text  # the original docstring kept
    assert "A different docstring" not in result.new_text
    assert result.new_text.replace("radius * 2", "radius**2") == SOURCE  # nothing else moved


def test_splice_a_method_given_inside_its_class_with_two_space_indents():
    code = extract_code(
        answer(
            "class Stack:\n  @property\n  def size(self) -> int:\n    return len(self.items) - 1\n"
        ),
        "size",
    )
    result = splice(SOURCE, "Stack.size", code)
    assert result.reject is None, result.detail
    assert "    @property\n    def size(self) -> int:\n" in result.new_text
    assert '        """How many items."""\n        return len(self.items) - 1\n' in result.new_text
    compile(result.new_text, "m.py", "exec")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I cannot help with that.", Reject.NO_CODE),
        (answer("def area(radius: float, *, precise: bool = True) -> float:\n    return ("),
         Reject.UNPARSABLE),
        (answer("def perimeter(r):\n    return 2 * r"), Reject.MISSING_FUNCTION),
        (answer("def area(radius, *, precise=True) -> float:\n    return 1.0"),
         Reject.SIGNATURE_CHANGED),
        (answer("async def area(radius: float, *, precise: bool = True) -> float:\n    return 1"),
         Reject.SIGNATURE_CHANGED),
        (answer(
            "def area(radius: float, *, precise: bool = True) -> float:\n"
            "    # same code, other comments and spacing\n"
            "    value = math.pi * radius ** 2\n"
            "    if precise:\n        return value\n"
            "    return round(value,   2)"), Reject.IDENTICAL),
        (answer('def area(radius: float, *, precise: bool = True) -> float:\n    """Doc."""'),
         Reject.NO_CODE),
    ],
)  # fmt: skip
def test_named_rejections(text, reason):
    code = extract_code(text, "area")
    result = splice(SOURCE, "area", code) if code is not None else None
    got = Reject.NO_CODE if result is None else result.reject
    assert got == reason, result


def test_extract_code_prefers_the_block_defining_the_function_and_skips_thinking():
    text = (
        "<think>```python\ndef area(): thinking\n```</think>"
        "First a helper:\n```python\nimport math\n```\n"
        "Then:\n```py\ndef area(r):\n    return r\n```"
    )
    assert extract_code(text, "area") == "def area(r):\n    return r"
    assert extract_code("def area(r):\n    return r", "area") == "def area(r):\n    return r"
    assert extract_code("```\nx = 1\n```", "area") == "x = 1"  # untagged block, no def
    assert extract_code("```bash\nls\n```", "area") is None  # not Python
    assert extract_code("unterminated:\n```python\ndef area(r):\n    return r", "area")


def test_unknown_target_is_a_named_rejection():
    assert splice(SOURCE, "Stack.pop", "def pop(self): return 1").reject == Reject.TARGET_NOT_FOUND


def test_prompts_render_from_files_without_the_body_for_rewrite():
    rewrite = rewrite_messages(Variant.REWRITE, SOURCE, "area", "geo/area.py")
    user = rewrite[1]["content"]
    assert rewrite[0]["content"] == render_prompt("rewrite_system.txt")
    assert "geo/area.py" in user and '"""The area of a circle."""' in user
    assert "math.pi * radius**2" not in user  # the body to re-implement is not shown
    bug = rewrite_messages(Variant.BUG, SOURCE, "Stack.size", "s.py")[1]["content"]
    assert "for _ in self.items:" in bug and "subtle bug" in bug
    big = SOURCE + "\n".join(f"X{i} = {i}" for i in range(3000))
    user = rewrite_messages(Variant.REWRITE, big, "area", "geo/area.py")[1]["content"]
    assert "import math" in user and "X2999" not in user and "def area(" in user
    with pytest.raises(ValueError, match="no function 'nope'"):
        rewrite_messages(Variant.BUG, SOURCE, "nope", "s.py")


def test_options_name_what_each_engine_needs():
    from pydantic import ValidationError

    from swelego_ray.synth.llm_rewrite import LLMSynthOptions

    with pytest.raises(ValidationError, match="engine 'server' needs url"):
        LLMSynthOptions()
    with pytest.raises(ValidationError, match="engine 'ray_data' needs ray_data"):
        LLMSynthOptions(engine="ray_data")
    options = LLMSynthOptions(
        engine="ray_data", max_tokens=64, ray_data={"model_source": "m", "cpu_per_engine": 1}
    )
    assert options.batch_config().max_tokens == 64  # the strategy's sampling settings win
    assert LLMSynthOptions(url="http://127.0.0.1:1/v1").client_config().sampling.max_tokens == 1024
