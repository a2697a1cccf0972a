"""One rollout item: an episode on a task's kept start state, then its judgement.

The worker (one per engine actor) keeps the sandbox backend and the teacher's client. An
item starts a sandbox from the task's sanitised start state, runs the agent with a shell
session, publishes the trajectory after every step (it survives a timeout or a crash),
takes the final patch (`git add -A`, diff against the start, binary files dropped),
scans the commands for git hacking, and judges the patch in a fresh sandbox with the
evaluation code: resolved, semi-resolved (not resolved but edits exactly the gold
patch's files), unresolved, or error (infrastructure, no verdict on the agent).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.agent.calls import Call
from swelego_ray.agent.hacking import HackingFinding, find_git_hacking
from swelego_ray.agent.loop import AgentConfig, Episode, Teacher, commands_of
from swelego_ray.agent.replay import ReplayTeacher
from swelego_ray.agent.teachers import EndpointTeacher
from swelego_ray.agent.tools import Toolbox
from swelego_ray.engine import ItemContext, ItemOutput
from swelego_ray.envs import Environment
from swelego_ray.evaluate import EvalItem, InstanceResult, Prediction, evaluate_instance
from swelego_ray.grading import Outcome
from swelego_ray.harness import backend_for, start_task_sandbox
from swelego_ray.llm import LLMClient
from swelego_ray.patching import build_test_command, files_in_patch, files_of_test_ids
from swelego_ray.rollout.config import EndpointTeacherSpec, TeacherSpec
from swelego_ray.sandbox import Limits, Sandbox, ShellSession
from swelego_ray.schema import Label, Task, Trajectory
from swelego_ray.storage import result_key

ROLLOUT_VERSION = "1"  # bump when a change must invalidate stored episodes


class RolloutItem(BaseModel):
    """One episode to run: a task, which attempt, and everything the worker needs."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    attempt: int
    env: Environment
    backend: str
    backend_options: dict[str, Any] = Field(default_factory=dict)
    limits: Limits
    agent: AgentConfig
    teacher: TeacherSpec = Field(discriminator="kind")
    judge: bool = True
    """Grade the final patch with the task's tests. Off where the tests must not be seen
    (test-time scaling picks a patch without them) or there are none (a repository and
    an issue text); the record's label is then None."""

    @property
    def episode_id(self) -> str:
        return f"{self.task.instance_id}#{self.attempt}"


class RolloutRecord(BaseModel):
    """The stored result of one episode."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    attempt: int
    label: Label | None
    """None when the item was not judged."""
    end_reason: str | None
    trajectory: Trajectory
    hacking: list[HackingFinding] = Field(default_factory=list)
    judge_reason: str | None = None
    """Why the patch did not resolve (an UnresolvedReason or InfraFailure value)."""
    judge_detail: str = ""
    start_s: float = 0.0
    """Sandbox start (environment ready, start state, session)."""
    start_wait_s: float = 0.0
    """The part of `start_s` the episode waited for (the rest overlapped model calls)."""
    episode_s: float = 0.0
    judge_s: float = 0.0
    started_at: float = 0.0
    """Wall clock (epoch seconds) when the item started, and when it finished."""
    finished_at: float = 0.0


def rollout_key(item: RolloutItem) -> str:
    """Every input that changes the episode."""
    return result_key(
        "rollout",
        item.task.instance_id,
        attempt=item.attempt,
        patch=item.task.patch,
        bug_patch=item.task.bug_patch,
        tests=[item.task.FAIL_TO_PASS, item.task.PASS_TO_PASS],
        env=item.env.key,
        limits=item.limits.model_dump(),
        agent=item.agent.model_dump(),
        teacher=item.teacher.model_dump(),
        backend=item.backend,
        version=ROLLOUT_VERSION,
    )


class RolloutWorker:
    """The item function of one engine actor; keeps the teacher's client."""

    def __init__(self) -> None:
        self._clients: dict[str, LLMClient] = {}

    def __call__(self, item: RolloutItem, ctx: ItemContext | None = None) -> ItemOutput:
        task = item.task

        def publish(trajectory: Trajectory) -> None:
            if ctx is not None:
                ctx.publish(ItemOutput(record=trajectory.model_dump(mode="json")))

        started, started_at = time.monotonic(), time.time()
        with ThreadPoolExecutor(1, thread_name_prefix="sandbox-start") as pool:
            opening = pool.submit(_Workspace.open, item)  # overlaps the first model call
            tools = _PendingToolbox(opening)
            try:
                episode = Episode(
                    task.instance_id, task.problem_statement, tools, self._teacher(item), item.agent
                )
                trajectory = episode.run(on_step=publish)
            finally:
                workspace = opening.result()  # a failed start raises here: no verdict
                patch = workspace.close()
        episode_s = time.monotonic() - started
        judged = time.monotonic()
        verdict = _judge(item, patch) if item.judge else None
        label = label_of(verdict, patch, task.patch) if verdict else None
        trajectory = trajectory.model_copy(update={"label": label, "patch": patch})
        record = RolloutRecord(
            instance_id=task.instance_id,
            attempt=item.attempt,
            label=label,
            end_reason=trajectory.meta.get("end_reason"),
            trajectory=trajectory,
            hacking=find_git_hacking(commands_of(trajectory)),
            judge_reason=verdict.report.reason if verdict else None,
            judge_detail=verdict.report.detail[-2000:] if verdict else "",
            start_s=round(workspace.start_s, 3),
            start_wait_s=round(tools.waited_s, 3),
            episode_s=round(episode_s, 3),
            judge_s=round(time.monotonic() - judged, 3),
            started_at=started_at,
            finished_at=time.time(),
        )
        return ItemOutput(record=record.model_dump(mode="json"), files={"patch.diff": patch})

    def _teacher(self, item: RolloutItem) -> Teacher:
        spec = item.teacher
        if isinstance(spec, EndpointTeacherSpec):
            key = spec.llm.model_dump_json()
            if key not in self._clients:
                self._clients[key] = LLMClient(spec.llm)
            return EndpointTeacher(self._clients[key])
        tests = files_of_test_ids(item.task.FAIL_TO_PASS)
        return ReplayTeacher(
            item.task.patch,
            build_test_command(item.env.spec.test_cmd, tests),
            config=spec.replay,
            key=item.episode_id,
        )


class _Workspace:
    """The episode's sandbox in the task's start state, with its shell session."""

    def __init__(self, sandbox: Sandbox, head: str, session: ShellSession, item: RolloutItem):
        self.sandbox, self.head, self.session = sandbox, head, session
        self.toolbox = Toolbox(session, hard_timeout_s=item.limits.timeout_s)
        self.start_s = 0.0

    @classmethod
    def open(cls, item: RolloutItem) -> _Workspace:
        started = time.monotonic()
        backend = backend_for(item.backend, item.backend_options)
        backend.prepare(item.env)
        sandbox, head = start_task_sandbox(backend, item.env, item.task, item.limits, [])
        try:
            workspace = cls(sandbox, head, sandbox.session(), item)
        except BaseException:
            sandbox.close()
            raise
        workspace.start_s = time.monotonic() - started
        return workspace

    def close(self) -> str:
        """End the session, take the final patch, remove the sandbox."""
        try:
            self.session.close()
            return self.sandbox.diff(self.head)
        finally:
            self.sandbox.close()


class _PendingToolbox:
    """The toolbox of a sandbox that may still be starting: the first call waits for it
    (`waited_s`), so the sandbox starts while the teacher writes its first answer."""

    def __init__(self, opening: Future[_Workspace]) -> None:
        self._opening = opening
        self.waited_s = 0.0

    def run(self, call: Call) -> str:
        if not self._opening.done():
            before = time.monotonic()
            self._opening.result()
            self.waited_s += time.monotonic() - before
        return self._opening.result().toolbox.run(call)


def _judge(item: RolloutItem, patch: str) -> InstanceResult:
    """The evaluation of the final patch in a fresh sandbox (the evaluation code)."""
    eval_item = EvalItem(
        task=item.task,
        prediction=Prediction(
            instance_id=item.task.instance_id,
            model_name_or_path=item.teacher.kind,
            model_patch=patch,
        ),
        env=item.env,
        backend=item.backend,
        backend_options=item.backend_options,
        limits=item.limits,
    )
    return InstanceResult.model_validate(evaluate_instance(eval_item).record)


def label_of(verdict: InstanceResult, patch: str, gold_patch: str) -> Label:
    """Resolved; semi-resolved: not resolved, but edits exactly the gold patch's files;
    unresolved; error: an infrastructure failure (no verdict on the agent)."""
    report = verdict.report
    if report.outcome is Outcome.ERROR:
        return Label.ERROR
    if report.resolved:
        return Label.RESOLVED
    if patch.strip() and set(files_in_patch(patch)) == set(files_in_patch(gold_patch)):
        return Label.SEMI_RESOLVED
    return Label.UNRESOLVED


__all__ = ["RolloutItem", "RolloutRecord", "RolloutWorker", "label_of", "rollout_key"]
