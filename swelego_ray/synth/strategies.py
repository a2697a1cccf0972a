"""The strategy registry: a strategy turns one repository snapshot into candidates.

A strategy is `fn(snapshot, cfg, funnel) -> list[Candidate]`: deterministic for a given
`cfg.seed`, at most `cfg.budget()` candidates, every attempt counted in `funnel` under
(strategy, family) with the reason of each drop before validation. Built in: `ast` and
`history`. Plug-ins register themselves when their module is imported; `_PLUGINS` names
the module that provides a strategy the registry does not hold yet (imported on first
use), e.g. `llm` from `swelego_ray.synth.llm_rewrite` and `prs` from
`swelego_ray.synth.prs`, which call `register_strategy(name, fn)` at import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from swelego_ray.synth.ast_bugs import ast_candidates
from swelego_ray.synth.candidates import Candidate
from swelego_ray.synth.funnel import SynthFunnel
from swelego_ray.synth.history import history_candidates
from swelego_ray.synth.repos import RepoSnapshot

if TYPE_CHECKING:
    from swelego_ray.synth.config import SynthConfig

Strategy = Callable[[RepoSnapshot, "SynthConfig", SynthFunnel], list[Candidate]]

_STRATEGIES: dict[str, Strategy] = {"ast": ast_candidates, "history": history_candidates}
_PLUGINS: dict[str, str] = {
    "llm": "swelego_ray.synth.llm_rewrite",
    "prs": "swelego_ray.synth.prs",
}


def register_strategy(name: str, fn: Strategy) -> None:
    """Make strategy `name` available to `--strategies` (a plug-in module calls this)."""
    _STRATEGIES[name] = fn


def known_strategies() -> list[str]:
    return sorted({*_STRATEGIES, *_PLUGINS})


def get_strategy(name: str) -> Strategy:
    """The strategy `name`, importing its plug-in module when needed; ValueError naming
    it when unknown or when its module is not installed."""
    if name not in _STRATEGIES and name in _PLUGINS:
        try:
            importlib.import_module(_PLUGINS[name])
        except ImportError as exc:
            raise ValueError(
                f"strategy {name!r} needs {_PLUGINS[name]}, which cannot be imported: {exc}"
            ) from None
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; known: {', '.join(known_strategies())}"
        ) from None
