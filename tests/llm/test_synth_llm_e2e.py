"""LLM rewrites and model-written statements end to end against the real tiny server: a
random model writes nonsense, so every attempt ends as a named rejection (or a usable
answer), counted in the funnel; nothing crashes."""

from __future__ import annotations

import pytest

from swelego_ray.llm import LLMClient
from swelego_ray.schema import Task
from swelego_ray.synth import RepoInput, RepoSnapshot, SynthConfig, SynthFunnel, get_strategy
from swelego_ray.synth.llm_rewrite import Reject, Variant, rewrite_function
from swelego_ray.synth.statements import Evidence, statement_writer
from swelego_ray.synth.statements_llm import StatementReject, StatementRejected, write_statement

MODULE = '''"""Small arithmetic helpers."""


def clamp(value, low, high):
    """`value` limited to [low, high]."""
    if value < low:
        return low
    if value > high:
        return high
    return value


def mean(values):
    """The arithmetic mean; 0.0 for no values."""
    total = 0.0
    for v in values:
        total += v
    return total / len(values) if values else 0.0
'''
GOLD = MODULE.replace("if value > high", "if value >= high")  # any valid patch text
BUG_DIFF = "--- a/calc/ops.py\n+++ b/calc/ops.py\n-    if value > high:\n+    if value >= high:\n"
SHORT = {"max_tokens": 48}
ANSWER_REJECTS = set(Reject) - {Reject.LLM_ERROR, Reject.TARGET_NOT_FOUND, Reject.PROMPT_TOO_LONG}


@pytest.fixture(scope="module")
def client(tiny_llm_server):
    return LLMClient(tiny_llm_server.config())


def test_rewrite_both_variants(client):
    for variant in Variant:
        result = rewrite_function(client, MODULE, "clamp", variant, path="calc/ops.py", **SHORT)
        assert result.ok or result.reject in ANSWER_REJECTS, result
        assert result.completion_tokens > 0 and result.answer
    assert client.usage.requests == 2


def test_a_prompt_over_the_context_window_is_named(client):
    body = "".join(f"    total += {i} * value\n" for i in range(1500))  # ~6,000 tokens here
    source = f"def grow(value):\n    total = 0\n{body}    return total\n"
    result = rewrite_function(client, source, "grow", Variant.BUG, path="calc/big.py", **SHORT)
    assert result.reject == Reject.PROMPT_TOO_LONG, result.detail


def test_statement_from_the_bug_diff(client):
    result = write_statement(
        client,
        repo="acme/calc",
        bug_patch=BUG_DIFF,
        gold_patch="+    if value > high:\n",
        failing_tests=["tests/test_ops.py::test_clamp"],
        test_output="FAILED tests/test_ops.py::test_clamp - assert 10 == 11",
        **SHORT,
    )
    assert result.ok or result.reject in set(StatementReject) - {StatementReject.LLM_ERROR}
    assert result.prompt_tokens > 0


def test_strategy_and_writer_through_the_registries(tiny_llm_server, make_git_repo, tmp_path):
    repo, _ = make_git_repo({"calc/ops.py": MODULE, "tests/test_ops.py": "def test(): pass\n"})
    options = {"url": tiny_llm_server.base_url, "max_tokens": 48, "max_concurrency": 2}
    cfg = SynthConfig(
        repos=[RepoInput(path=str(repo))],
        out=str(tmp_path / "out"),
        strategies=["llm"],
        candidates_per_repo=3,
        options={"llm": options},
    )
    funnel = SynthFunnel()
    candidates = get_strategy("llm")(RepoSnapshot.open(repo), cfg, funnel)
    llm = funnel.as_dict()["by_strategy"]["llm"]
    assert llm["candidates"] == 2  # the module has two targets, under a budget of 3
    assert llm["compiles"] + sum(llm["dropped"].values()) == 2, llm
    assert set(llm["dropped"]) <= {str(r) for r in Reject} | {"duplicate"}, llm
    assert {(s, t) for s, t in funnel.rows} <= {("llm", "bug"), ("llm", "rewrite")}
    assert all(c.origin.strategy == "llm" and c.bug_patch for c in candidates)

    writer = statement_writer("llm", cfg)
    task = Task(
        instance_id="local__calc.llm.1", repo="local/calc", base_commit="0" * 40,
        patch=GOLD, bug_patch=GOLD,
    )  # fmt: skip
    evidence = Evidence(failing_tests=["tests/test_ops.py::test_clamp"])
    try:
        assert writer.write(task, evidence).strip()
    except StatementRejected as exc:
        assert exc.reason in set(StatementReject)
