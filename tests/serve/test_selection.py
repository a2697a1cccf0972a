"""Choosing among K candidates sees only scores and execution signals, and the TTS@k
curve is computed from graded candidates (constructed sets with known labels)."""

from __future__ import annotations

import pytest

from swelego_ray.schema import Label
from swelego_ray.serve import Candidate, Selection, choose, tts_curve
from swelego_ray.serve.records import CandidateSignals


def _c(attempt, score, label=None, *, ok=True, patch="diff", submitted=True, hacking=False):
    return Candidate(
        attempt=attempt,
        ok=ok,
        patch=patch if ok else "",
        score=score,
        label=label,
        signals=CandidateSignals(
            nonempty=bool(patch.strip()) and ok, submitted=submitted, git_hacking=hacking
        ),
    )


def test_the_verifier_picks_the_highest_score_among_usable_patches():
    cands = [_c(0, 0.9, ok=False), _c(1, 0.2), _c(2, 0.7), _c(3, 0.95, patch="  ")]
    assert choose(cands, Selection.VERIFIER) == 2
    assert choose(cands, Selection.SIGNALS) == 2
    assert choose([_c(0, 0.5, ok=False), _c(1, None, patch="")]) is None
    assert choose([]) is None


def test_signals_put_submitted_hack_free_patches_first_and_ties_go_to_the_earliest():
    cands = [_c(0, 0.9, submitted=False), _c(1, 0.4), _c(2, 0.8, hacking=True), _c(3, 0.4)]
    assert choose(cands, Selection.SIGNALS) == 1
    assert choose(cands, Selection.VERIFIER) == 0
    # a candidate whose verifier call failed (no score) still beats no patch at all
    assert choose([_c(0, None), _c(1, 0.3, ok=False)]) == 0


def test_tts_curve_on_constructed_sets_with_known_labels():
    r, u = Label.RESOLVED, Label.UNRESOLVED
    graded = {
        # the verifier ranks the resolved candidate first once it is among the first k
        "a": [_c(0, 0.1, u), _c(1, 0.9, r), _c(2, 0.3, u), _c(3, 0.2, u)],
        # resolved first, and best scored: TTS@1 already resolves
        "b": [_c(0, 0.8, r), _c(1, 0.4, u), _c(2, 0.6, r), _c(3, 0.1, u)],
        # the verifier prefers a wrong patch: TTS never resolves, the oracle does
        "c": [_c(0, 0.2, u), _c(1, 0.1, r), _c(2, 0.9, u), _c(3, 0.5, u)],
    }
    curve = tts_curve(graded)
    assert curve.k == [1, 2, 3, 4]
    assert curve.per_task == {
        "a": [False, True, True, True],
        "b": [True, True, True, True],
        "c": [False, False, False, False],
    }
    assert curve.tts_at_k == [round(1 / 3, 4), round(2 / 3, 4), round(2 / 3, 4), round(2 / 3, 4)]
    assert curve.pass_at_k == [round(1 / 3, 4), 1.0, 1.0, 1.0]
    assert curve.pass_at_1 == round((1 / 4 + 2 / 4 + 1 / 4) / 3, 4)


def test_tts_curve_refuses_ungraded_candidates():
    with pytest.raises(ValueError, match="oracle label"):
        tts_curve({"a": [_c(0, 0.5)]})
    with pytest.raises(ValueError, match="at least one task"):
        tts_curve({})
