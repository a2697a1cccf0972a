"""The agent loop on a real shell session: every way an episode ends, the history kept
after every step, malformed turns recorded; the replay teacher resolves sample tasks
(with its mistakes in the trajectory) in both call forms."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import unidiff

from swelego_ray.agent.loop import AgentConfig, EndReason, Episode, commands_of
from swelego_ray.agent.replay import ReplayConfig, ReplayTeacher
from swelego_ray.agent.tools import Toolbox
from swelego_ray.llm import ChatResult, LLMError, ToolCall
from swelego_ray.sandbox import SandboxError


class ScriptedTeacher:
    """A test double for a model: answers from a list (ChatResults or exceptions)."""

    name = "scripted"

    def __init__(self, answers: list[ChatResult | Exception]) -> None:
        self.answers, self.seen = list(answers), []

    def reply(self, messages: Sequence[dict[str, Any]], tools: Any) -> ChatResult:
        self.seen.append(len(messages))
        answer = self.answers.pop(0) if self.answers else _bash("echo again")
        if isinstance(answer, Exception):
            raise answer
        return answer


def _answer(text: str = "", *calls: tuple[str, dict]) -> ChatResult:
    wire = tuple(
        ToolCall(id=f"c{i}", name=name, arguments=json.dumps(args))
        for i, (name, args) in enumerate(calls)
    )
    return ChatResult(text, wire, "tool_calls", 10, 5, "scripted", 0.01)


def _bash(command: str) -> ChatResult:
    return _answer("", ("execute_bash", {"command": command}))


def test_state_survives_between_turns_and_finish_ends_the_episode(session):
    teacher = ScriptedTeacher(
        [
            _bash("cd pkg && export GREETING=hello"),
            _bash("pwd && echo $GREETING"),
            _answer("done", ("finish", {"message": "ok"})),
        ]
    )
    saved = []
    traj = Episode("t-1", "add is broken", Toolbox(session), teacher).run(on_step=saved.append)
    assert traj.meta["end_reason"] == EndReason.FINISHED
    tool_msgs = [m for m in traj.messages if m.role == "tool"]
    assert "/testbed/pkg" in tool_msgs[1].content and "hello" in tool_msgs[1].content
    assert [len(t.messages) for t in saved] == [4, 6, 8]  # after every step (the last: at the end)
    assert traj.meta["turns"][0]["prompt_tokens"] == 10 and traj.model == "scripted"
    assert commands_of(traj) == ["cd pkg && export GREETING=hello", "pwd && echo $GREETING"]


def test_turn_limit_teacher_failure_and_malformed_turns_end_or_continue(session):
    never_done = ScriptedTeacher([])
    traj = Episode("t", "x", Toolbox(session), never_done, AgentConfig(max_turns=3)).run()
    assert traj.meta["end_reason"] == EndReason.MAX_TURNS and len(traj.meta["turns"]) == 3

    failing = ScriptedTeacher(
        [
            _answer("I think the bug is in add."),  # no tool call at all
            _answer("", ("str_replace_editor", {"command": "explode", "path": "/x"})),
            LLMError("http://127.0.0.1:1/v1", "tiny", "connection refused"),
        ]
    )
    traj = Episode("t", "x", Toolbox(session), failing).run()
    assert traj.meta["end_reason"] == EndReason.TEACHER_ERROR
    assert "connection refused" in traj.meta["end_detail"]
    observations = [m.content for m in traj.messages if m.role in ("tool", "user")][1:]
    assert all(o.startswith(("OBSERVATION:\nERROR", "ERROR")) for o in observations), observations


def test_a_sandbox_failure_propagates_after_the_history_is_saved(session):
    class Broken(Toolbox):
        def run(self, call):
            raise SandboxError("the sandbox died")

    saved = []
    with pytest.raises(SandboxError):
        Episode("t", "x", Broken(session), ScriptedTeacher([_bash("ls")])).run(saved.append)
    assert saved and saved[-1].messages[-1].role == "assistant"


@pytest.fixture(scope="module")
def sample_tasks(tmp_path_factory, sandbox_cache):
    from swelego_ray.envs import get_backend
    from swelego_ray.samples import materialize_sample_repos, sample_tasks_path
    from swelego_ray.schema import read_tasks

    repos = materialize_sample_repos(tmp_path_factory.mktemp("agent-samples"))
    backend = get_backend("local", cache_root=sandbox_cache)
    tasks = read_tasks(sample_tasks_path())
    picked = [tasks[0], tasks[5], tasks[10]]  # one per sample package
    return backend, repos, picked


def _changed_lines(patch: str) -> set[tuple[str, str]]:
    return {
        (f.path, str(line))
        for f in unidiff.PatchSet(patch)
        for hunk in f
        for line in hunk
        if line.is_added or line.is_removed
    }


@pytest.mark.parametrize("form", ["native", "text"])
def test_replay_teacher_fixes_sample_tasks_with_its_mistakes_recorded(sample_tasks, form):
    from swelego_ray.harness import start_task_sandbox, task_environment
    from swelego_ray.patching import build_test_command, files_of_test_ids
    from swelego_ray.sandbox import Limits

    backend, repos, tasks = sample_tasks
    errors = 0
    for task in tasks:
        env = task_environment(task, repos)
        backend.prepare(env)
        sandbox, head = start_task_sandbox(backend, env, task, Limits(), [])
        command = build_test_command(env.spec.test_cmd, files_of_test_ids(task.FAIL_TO_PASS))
        config = ReplayConfig(mistake_rate=0.5, seed=3, call_form=form)
        teacher = ReplayTeacher(task.patch, command, config=config, key=task.instance_id)
        with sandbox:
            with sandbox.session() as shell:
                agent = AgentConfig(call_form=form)
                episode = Episode(
                    task.instance_id, task.problem_statement, Toolbox(shell), teacher, agent
                )
                traj = episode.run()
            patch = sandbox.diff(head)
        assert traj.meta["end_reason"] == EndReason.FINISHED and traj.model == "replay"
        assert traj.tool_call_format == form
        assert _changed_lines(patch) == _changed_lines(task.patch), task.instance_id
        text = "\n".join(m.content for m in traj.messages if m.role in ("tool", "user"))
        errors += text.count("ERROR: No replacement") + text.count("command not found")
    assert errors >= 1  # the mistakes are in the trajectories (seeded: the same every run)


def test_prompts_are_template_files_and_text_form_describes_the_tools():
    from swelego_ray.agent.prompts import render_instance, render_system
    from swelego_ray.schema.tools_schema import TOOL_NAMES, TOOLS

    text_form = render_system("text", TOOLS)
    assert all(f"BEGIN FUNCTION: {name}" in text_form for name in TOOL_NAMES)
    assert "BEGIN FUNCTION" not in render_system("native", TOOLS)
    assert "the widget is broken" in render_instance("the widget is broken")
    templates = Path(__file__).resolve().parents[2] / "swelego_ray/agent/templates"
    assert {p.name for p in templates.iterdir()} >= {"system.jinja", "instance.jinja"}


def test_replay_think_time_is_slept_and_reported_as_the_model_latency():
    patch = "--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    teacher = ReplayTeacher(patch, "pytest", config=ReplayConfig(think_time_s=0.05))
    begin = time.monotonic()
    answer = teacher.reply([], None)
    assert time.monotonic() - begin >= 0.05 and answer.latency_s == 0.05
    assert ReplayTeacher(patch, "pytest").reply([], None).latency_s == 0.0
