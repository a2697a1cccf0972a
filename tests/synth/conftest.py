"""Fixtures of the synthesis tests (builders in synth_repos.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synth_repos import make_stats_repo


@pytest.fixture(scope="session")
def stats_repo(tmp_path_factory) -> Path:
    """acme__stats at one commit (see synth_repos.make_stats_repo)."""
    return make_stats_repo(tmp_path_factory.mktemp("repos") / "acme__stats")


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    """One environment cache for the synthesis tests: the environment builds once."""
    return tmp_path_factory.mktemp("synth-cache")
