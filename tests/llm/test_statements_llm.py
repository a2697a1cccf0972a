"""statements_llm on hand-written statements: the pure checks (leakage of the gold patch's
added lines, diff text, empty answers) and the prompt rendered from its files."""

from __future__ import annotations

from swelego_ray.synth.statements_llm import (
    StatementReject,
    check_statement,
    clean_statement,
    statement_messages,
)

GOLD = """diff --git a/calc/ops.py b/calc/ops.py
--- a/calc/ops.py
+++ b/calc/ops.py
@@ -1,3 +1,3 @@
 def clamp(value, low, high):
-    return max(low, min(value, high + 1))
+    return max(low, min(value, high))
"""
BUG = (
    GOLD.replace("-    return max(low, min(value, high + 1))", "+TMP")
    .replace("+    return max(low, min(value, high))", "-    return max(low, min(value, high))")
    .replace("+TMP", "+    return max(low, min(value, high + 1))")
)

GOOD = (
    "clamp() lets values through above the upper bound\n\n"
    "`clamp(11, 0, 10)` returns 11; I expected 10, the upper bound."
)


def test_a_plain_statement_passes():
    assert check_statement(GOOD, GOLD) == (None, "")


def test_quoting_the_fix_is_rejected_whitespace_insensitively():
    leaky = GOOD + "\n\nThe code should read `return max(low,   min(value, high))`."
    reason, detail = check_statement(leaky, GOLD)
    assert reason == StatementReject.LEAKS_FIX
    assert "return max(low, min(value, high))" in detail


def test_diff_text_garbled_and_empty_answers_are_rejected():
    assert check_statement(GOOD + "\n" + BUG, GOLD)[0] == StatementReject.QUOTES_DIFF
    assert check_statement("Bug.", GOLD)[0] == StatementReject.EMPTY
    garbled = check_statement(GOOD + " \x10keys\ufffd\x0b", GOLD)
    assert garbled == (StatementReject.GARBLED, "3 control or undecodable characters")
    assert check_statement(clean_statement("<think>" + GOOD + "</think>"), GOLD)[0] == (
        StatementReject.EMPTY
    )


def test_clean_statement_unwraps_a_fenced_answer():
    assert clean_statement(f"<think>hmm</think>\n```markdown\n{GOOD}\n```\n") == GOOD


def test_prompt_shows_the_bug_diff_tests_and_output_tail():
    messages = statement_messages(
        repo="acme/calc",
        bug_patch=BUG,
        failing_tests=["tests/test_ops.py::test_clamp"],
        test_output="x" * 5000 + "\nFAILED tests/test_ops.py::test_clamp - assert 11 == 10",
    )
    user = messages[1]["content"]
    assert messages[0]["role"] == "system" and "never how to fix it" in messages[0]["content"]
    assert "acme/calc" in user and "+    return max(low, min(value, high + 1))" in user
    assert "- tests/test_ops.py::test_clamp" in user and "assert 11 == 10" in user
    assert "x" * 3001 not in user  # the output's tail only
