"""Test-time scaling without Ray Serve: K replay rollouts of a sample task run at once in
sandboxes through the engine's async path, each scored by a real (tiny) verifier; an
early stop cancels the rest; bad requests and failed rollouts are reported."""

from __future__ import annotations

import asyncio

import pytest

from swelego_ray.engine import ItemFailure, ItemResult
from swelego_ray.models.tiny import build_tiny_model
from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
from swelego_ray.schema import Label, read_tasks
from swelego_ray.serve import TTSRequest, TTSSettings
from swelego_ray.serve.tts import TTSRequestError, TTSRunner, _candidate
from swelego_ray.sft.verifier_score import VerifierScorer

TASK = "swelego-samples__inikit-2"


@pytest.fixture(scope="module")
def runner(tmp_path_factory, sandbox_cache) -> TTSRunner:
    repos = materialize_sample_repos(tmp_path_factory.mktemp("tts-samples"))
    settings = TTSSettings(
        tasks=[str(sample_tasks_path())],
        repos_dir=str(repos),
        cache_root=str(sandbox_cache),
        teacher="replay",
        # each reply takes a moment, as a model's would: rollouts last long enough that
        # running them at once shows in their timestamps even when a worker starts late
        replay={"mistake_rate": 0.4, "think_time_s": 0.2},
        k_max=4,
        max_turns=20,
        progress=False,
    )
    return TTSRunner(settings, None)


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    model = build_tiny_model(tmp_path_factory.mktemp("verifier") / "tiny", seed=1)
    verifier = VerifierScorer(model)

    async def score(trajectory) -> float:
        return (await asyncio.to_thread(verifier.score, [trajectory]))[0]

    return score


def test_k_rollouts_run_at_once_are_scored_and_one_is_chosen(ray_local, runner, scorer):
    # the first request starts Ray's worker processes (seconds each on a loaded machine)
    asyncio.run(runner.run(TTSRequest(instance_id=TASK, k=3, max_turns=2), scorer))
    request = TTSRequest(instance_id=TASK, k=3, judge=True, seed=4)
    response = asyncio.run(runner.run(request, scorer, keep_trajectories=True))
    assert [c.attempt for c in response.candidates] == [0, 1, 2]
    assert all(c.ok and c.score is not None and 0 < c.score < 1 for c in response.candidates)
    assert all(c.label is Label.RESOLVED for c in response.candidates), response
    assert all(c.trajectory is not None for c in response.candidates)
    # they ran at once, not one after another: rollouts overlapped in time (a worker
    # process that starts late on a loaded machine may delay one, never serialise all)
    spans = [(c.started_at, c.finished_at) for c in response.candidates]
    assert _most_at_once(spans) >= 2, spans
    chosen = response.chosen_candidate()
    assert chosen is not None and response.patch == chosen.patch and chosen.signals.submitted
    best = max(c.score for c in response.candidates)
    assert chosen.score == best
    assert response.timings.total_s >= response.timings.rollouts_s > 0


def test_an_early_stop_cancels_the_rollouts_still_running(ray_local, runner, scorer):
    request = TTSRequest(instance_id=TASK, k=3, early_stop_score=1e-6, max_turns=20)
    response = asyncio.run(runner.run(request, scorer))
    finished = [c for c in response.candidates if c.ok]
    cancelled = [c for c in response.candidates if not c.ok]
    assert len(response.candidates) == 3 and finished
    assert all(c.error == "cancelled by early stop" for c in cancelled)
    assert response.stopped_early == bool(cancelled)
    assert response.chosen in {c.attempt for c in finished}


def test_bad_requests_are_refused_with_their_status(runner):
    cases = [
        (TTSRequest(instance_id="nope"), 404, "unknown task 'nope'"),
        (TTSRequest(instance_id=TASK, k=5), 422, "k=5 is out of range"),
        (TTSRequest(instance_id=TASK, max_turns=500), 422, "max_turns=500"),
    ]
    task = read_tasks(sample_tasks_path())[0].model_copy(update={"env_spec": None})
    no_gold = task.model_copy(update={"patch": "", "instance_id": "x-1"})
    cases.append((TTSRequest(task=no_gold), 422, "needs a task with a gold patch"))
    missing = task.model_copy(update={"repo": "elsewhere/missing", "instance_id": "x-2"})
    cases.append((TTSRequest(task=missing), 422, "x-2"))
    for request, status, message in cases:
        with pytest.raises(TTSRequestError, match=message) as caught:
            asyncio.run(runner.run(request, _never))
        assert caught.value.status == status


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans running at the same moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


async def _never(_trajectory) -> float:
    raise AssertionError("no rollout may run for a refused request")


def test_a_failed_rollout_is_a_candidate_with_its_reason():
    failed = ItemResult(
        index=1, item_id="t#1", ok=False, reason=ItemFailure.ITEM_TIMEOUT, error="took too long"
    )
    candidate = asyncio.run(_candidate(1, failed, _never, False))
    assert not candidate.ok and candidate.error.startswith("item_timeout: took too long")
    assert candidate.score is None and candidate.patch == ""
