"""Task synthesis: repositories -> validated SWE-bench-format tasks.

Strategies propose candidates (`ast`: libcst bug transforms; `history`: fix commits; plug-
ins register themselves: `llm` rewrites, `prs` merged pull requests that close an issue),
the spine validates them (>= 1 FAIL_TO_PASS and PASS_TO_PASS, stable over repeated runs),
a writer adds problem statements that do not reveal the fix (a mined pull request keeps
its issue's text).

    from swelego_ray.synth import RepoInput, SynthConfig, run_synthesis
    report = run_synthesis(SynthConfig(repos=[RepoInput(path="repos/acme__calc")],
                                       out="runs/synth", strategies=["ast"], seed=0))
"""

from swelego_ray.synth.candidates import Candidate, Features, Origin
from swelego_ray.synth.config import (
    HistoryConfig,
    PRConfig,
    RepoInput,
    SynthConfig,
    read_repos_list,
)
from swelego_ray.synth.funnel import STAGES, SynthFunnel
from swelego_ray.synth.repos import RepoSnapshot, is_source_path, is_test_path
from swelego_ray.synth.run import SynthDrop, SynthReport, propose, run_synthesis
from swelego_ray.synth.statements import (
    Evidence,
    StatementWriter,
    TemplateWriter,
    leaked_lines,
    register_statement_writer,
)
from swelego_ray.synth.strategies import get_strategy, known_strategies, register_strategy
from swelego_ray.synth.transforms import TRANSFORMS

__all__ = [
    "STAGES",
    "TRANSFORMS",
    "Candidate",
    "Evidence",
    "Features",
    "HistoryConfig",
    "Origin",
    "PRConfig",
    "RepoInput",
    "RepoSnapshot",
    "StatementWriter",
    "SynthConfig",
    "SynthDrop",
    "SynthFunnel",
    "SynthReport",
    "TemplateWriter",
    "get_strategy",
    "is_source_path",
    "is_test_path",
    "known_strategies",
    "leaked_lines",
    "propose",
    "read_repos_list",
    "register_statement_writer",
    "register_strategy",
    "run_synthesis",
]
