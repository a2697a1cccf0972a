"""Test-time scaling, independent of Ray Serve: one request -> K rollouts in parallel
sandboxes (the engine's async path: Ray tasks on the sandbox nodes, not in the caller's
process) -> a verifier score per candidate as each finishes -> the choice.

The caller passes the scorer (the verifier deployment's handle in the app, a local
VerifierScorer elsewhere). An early stop cancels the rollouts still running once a
usable candidate scores high enough. A rollout that fails is a candidate with its error;
the others still return.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from swelego_ray.engine import ItemResult, run_item_async
from swelego_ray.envs import EnvBuildError, Environment
from swelego_ray.harness import SOURCE_KEY, task_environment
from swelego_ray.llm import LLMConfig
from swelego_ray.rollout import (
    EndpointTeacherSpec,
    ReplayTeacherSpec,
    RolloutItem,
    RolloutRecord,
    RolloutWorker,
)
from swelego_ray.schema import Task, Trajectory
from swelego_ray.serve.config import TTSSettings
from swelego_ray.serve.records import (
    Candidate,
    CandidateSignals,
    TTSRequest,
    TTSResponse,
    TTSTimings,
)
from swelego_ray.serve.selection import Selection, choose

Scorer = Callable[[Trajectory], Awaitable[float]]


class TTSRequestError(ValueError):
    """A request the server cannot serve (unknown task, budget out of range, a task whose
    environment cannot be described): a 4xx with this message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class TTSRunner:
    """Serves TTS requests for one replica: knows the tasks, keeps their environments."""

    def __init__(
        self,
        settings: TTSSettings,
        policy: LLMConfig | None,
        *,
        selection: Selection = Selection.SIGNALS,
    ) -> None:
        from swelego_ray.schema import read_tasks

        if settings.teacher == "policy" and policy is None:
            raise ValueError("tts.teacher is `policy` but no policy endpoint was given")
        if settings.teacher == "replay" and not settings.allow_replay:
            settings = settings.model_copy(update={"allow_replay": True})
        self.settings, self.policy, self.selection = settings, policy, selection
        self.tasks: dict[str, Task] = {}
        for path in settings.tasks:
            for task in read_tasks(path):
                self.tasks[task.instance_id] = task
        self._envs: dict[str, Environment] = {}

    def teacher_of(self, request: TTSRequest) -> str:
        """Who plays the request's rollouts, or TTSRequestError."""
        teacher = request.teacher or self.settings.teacher
        if teacher == "replay" and not self.settings.allow_replay:
            raise TTSRequestError(
                "this server does not allow the replay teacher (tts.allow_replay)"
            )
        if teacher == "policy" and self.policy is None:
            raise TTSRequestError("this server has no policy endpoint for rollouts")
        return teacher

    def resolve(self, request: TTSRequest) -> tuple[Task, int, int]:
        """The request's task and budgets, or TTSRequestError."""
        s = self.settings
        teacher = self.teacher_of(request)
        k = request.k or s.k_default
        if k > s.k_max:
            raise TTSRequestError(f"k={k} is out of range: this server allows 1..{s.k_max}")
        turns = request.max_turns or s.max_turns
        if turns > s.max_turns_max:
            raise TTSRequestError(
                f"max_turns={turns} is out of range: this server allows 1..{s.max_turns_max}"
            )
        if request.judge and k > s.judge_max_k:
            raise TTSRequestError(f"judge is allowed up to k={s.judge_max_k}, got k={k}")
        if request.instance_id is not None:
            task = self.tasks.get(request.instance_id)
            if task is None:
                raise TTSRequestError(
                    f"unknown task {request.instance_id!r}: this server knows "
                    f"{len(self.tasks)} tasks (tts.tasks)",
                    status=404,
                )
        elif request.task is not None:
            task = _client_task(request.task)
        else:
            assert request.issue is not None
            task = _client_task(request.issue.task())
        if teacher == "replay" and not task.patch.strip():
            raise TTSRequestError(
                f"{task.instance_id}: the replay teacher needs a task with a gold patch"
            )
        if request.judge and not (task.FAIL_TO_PASS or task.PASS_TO_PASS):
            raise TTSRequestError(f"{task.instance_id}: judge needs a task with tests")
        return task, k, turns

    def environment(self, task: Task) -> Environment:
        key = task.model_dump_json(include={"repo", "base_commit", "version", "env_spec", "meta"})
        if key not in self._envs:
            cache = Path(self.settings.cache_root) if self.settings.cache_root else None
            try:
                self._envs[key] = task_environment(task, self.settings.repos_dir, cache)
            except EnvBuildError as exc:
                raise TTSRequestError(f"{task.instance_id}: {exc}") from exc
        return self._envs[key]

    def items(
        self, task: Task, env: Environment, k: int, turns: int, request: TTSRequest
    ) -> list[RolloutItem]:
        """The request's K rollout items (judged only if the request asks)."""
        s = self.settings
        items: list[RolloutItem] = []
        replay_teacher = self.teacher_of(request) == "replay"
        for attempt in range(k):
            if replay_teacher:
                replay = s.replay.model_copy(
                    update={"seed": s.replay.seed + request.seed, "call_form": s.call_form}
                )
                teacher: EndpointTeacherSpec | ReplayTeacherSpec = ReplayTeacherSpec(replay=replay)
            else:
                assert self.policy is not None
                sampling = s.sampling.model_copy(update={"seed": request.seed * 1000 + attempt})
                teacher = EndpointTeacherSpec(
                    llm=self.policy.model_copy(update={"sampling": sampling})
                )
            items.append(
                RolloutItem(
                    task=task,
                    attempt=attempt,
                    env=env,
                    backend=s.backend_name,
                    backend_options=s.backend_options,
                    limits=s.limits,
                    agent=s.agent(turns),
                    teacher=teacher,
                    judge=request.judge,
                )
            )
        return items

    async def run(
        self, request: TTSRequest, score: Scorer, *, keep_trajectories: bool = False
    ) -> TTSResponse:
        """Serve one request (TTSRequestError for a request that cannot be served)."""
        begin = time.monotonic()
        task, k, turns = self.resolve(request)
        env = await asyncio.to_thread(self.environment, task)
        items = self.items(task, env, k, turns, request)
        prepared = time.monotonic()
        threshold = request.early_stop_score or self.settings.early_stop_score
        engine = self.settings.engine()

        async def one(item: RolloutItem) -> Candidate:
            result = await run_item_async(
                item, RolloutWorker, item_id=item.episode_id, index=item.attempt, config=engine
            )
            return await _candidate(item.attempt, result, score, keep_trajectories)

        pending = {asyncio.ensure_future(one(item)): item.attempt for item in items}
        candidates: list[Candidate] = []
        stopped = False
        try:
            for done in asyncio.as_completed(list(pending)):
                candidate = await done
                candidates.append(candidate)
                if threshold is not None and _good_enough(candidate, threshold):
                    stopped = len(candidates) < k
                    break
        finally:
            for future, attempt in pending.items():
                if not future.done():
                    future.cancel()
                    candidates.append(
                        Candidate(attempt=attempt, ok=False, error="cancelled by early stop")
                    )
            await asyncio.gather(*pending, return_exceptions=True)
        rolled = time.monotonic()
        candidates.sort(key=lambda c: c.attempt)
        chosen = choose(candidates, self.selection)
        picked = next((c for c in candidates if c.attempt == chosen), None)
        end = time.monotonic()
        return TTSResponse(
            instance_id=task.instance_id,
            k=k,
            max_turns=turns,
            chosen=chosen,
            patch=picked.patch if picked else "",
            candidates=candidates,
            stopped_early=stopped,
            selection=self.selection.value,
            timings=TTSTimings(
                prepare_s=round(prepared - begin, 3),
                rollouts_s=round(rolled - prepared, 3),
                select_s=round(end - rolled, 3),
                total_s=round(end - begin, 3),
            ),
        )


_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _client_task(task: Task) -> Task:
    """A task a client sent: it may name a repository of the server's mirrors, nothing
    else. Where code comes from and how environments are built stay the server's (a
    client-chosen source would read any repository on the server's disk or fetch from
    any URL; a client-chosen env_spec would run its install commands in a build)."""
    if not _REPO_NAME.fullmatch(task.repo) or ".." in task.repo:
        raise TTSRequestError(f"{task.instance_id}: repo {task.repo!r} is not an owner/name")
    if SOURCE_KEY in task.meta:
        raise TTSRequestError(
            f"{task.instance_id}: a request may not set meta.{SOURCE_KEY} (the server's "
            "mirrors are the only source)"
        )
    if task.env_spec is not None or task.env_key:
        raise TTSRequestError(
            f"{task.instance_id}: a request may not set env_spec or env_key (the server "
            "derives environments)"
        )
    return task


def _good_enough(candidate: Candidate, threshold: float) -> bool:
    return (
        candidate.ok
        and candidate.signals.nonempty
        and candidate.signals.submitted
        and candidate.score is not None
        and candidate.score >= threshold
    )


async def _candidate(
    attempt: int, result: ItemResult, score: Scorer, keep_trajectory: bool
) -> Candidate:
    """A candidate from one rollout's engine result, scored by the verifier."""
    if not result.ok or result.record is None:
        reason = result.reason.value if result.reason else "item_error"
        return Candidate(attempt=attempt, ok=False, error=f"{reason}: {result.error[:1000]}")
    try:
        record = result.value(RolloutRecord)
    except ValueError as exc:  # a worker of another version: this candidate only
        return Candidate(attempt=attempt, ok=False, error=f"unreadable rollout record: {exc}")
    trajectory = record.trajectory
    patch = trajectory.patch or ""
    signals = CandidateSignals(
        nonempty=bool(patch.strip()),
        submitted=record.end_reason == "finished",
        git_hacking=bool(record.hacking),
    )
    began = time.monotonic()
    try:
        value: float | None = await score(trajectory)
        error = ""
    except Exception as exc:  # a verifier failure costs this candidate its score only
        value, error = None, f"verifier failed: {type(exc).__name__}: {str(exc)[:500]}"
    return Candidate(
        attempt=attempt,
        ok=True,
        error=error,
        patch=patch,
        end_reason=record.end_reason,
        turns=len(trajectory.assistant_indices()),
        score=None if value is None else round(float(value), 6),
        signals=signals,
        label=record.label,
        start_s=record.start_s,
        episode_s=record.episode_s,
        score_s=round(time.monotonic() - began, 3),
        judge_s=record.judge_s,
        started_at=record.started_at,
        finished_at=record.finished_at,
        trajectory=trajectory if keep_trajectory else None,
    )
