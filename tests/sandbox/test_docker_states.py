"""Kept start states of the docker backend (StartState), against podman's service."""

from __future__ import annotations

import threading
import uuid

import pytest
from docker_fixtures import docker_backend, tiny_env, two_commit_env  # noqa: F401

from swelego_ray.envs import backends
from swelego_ray.sandbox import StartState
from swelego_ray.sandbox import _docker_states as states
from swelego_ray.sandbox._docker_engine import ROLE_LABEL

pytestmark = pytest.mark.docker

_GIT = "git -c user.name=t -c user.email=t@localhost -c commit.gpgsign=false"


class Preparer:
    """A start state's `prepare`: edits and commits in TESTBED, leaves one change
    uncommitted, and counts its calls (threads may call it at once)."""

    def __init__(self, fail: bool = False, barrier: threading.Barrier | None = None) -> None:
        self.calls = 0
        self.fail, self.barrier = fail, barrier
        self.sandboxes: list = []
        self._lock = threading.Lock()

    def __call__(self, sandbox) -> str:
        with self._lock:
            self.calls += 1
            self.sandboxes.append(sandbox)
        sandbox.write_file("pkg/mod.py", "VALUE = 10\n")
        sandbox.exec(f"{_GIT} commit -qam 'prepared'")
        sandbox.write_file("notes/untracked.txt", "kept\n")
        if self.barrier is not None:
            self.barrier.wait(timeout=60)
        if self.fail:
            raise RuntimeError("prepare failed on purpose")
        head = sandbox.exec("git rev-parse HEAD").output.strip()
        return f"HEAD {head}\nsteps: edit, commit — «ok»\n"


def _image_id(backend: backends.EnvBackend, env) -> str:
    """The id of env's image, which start-state tags are made from."""
    return backend.sandboxes.image_id(backend.built(env))


def state_images(backend) -> list:
    """Every start-state image, tagged or not."""
    role = f"{ROLE_LABEL}={states.ROLE}"
    return backend.client.images.list(all=True, filters={"label": role})


@pytest.fixture
def kept(docker_backend):  # noqa: F811
    """Unique state keys for this test; their kept images are removed afterwards."""
    made: list[tuple] = []

    def key(env) -> str:
        name = f"test-{uuid.uuid4().hex}"
        made.append((env, name))
        return name

    yield key
    for env, name in made:
        tag = states.state_tag(_image_id(docker_backend, env), name)
        if states.image_id(docker_backend.client, tag) is not None:
            docker_backend.client.images.remove(tag)


def test_prepare_runs_once_then_sandboxes_start_from_the_kept_state(
    docker_engine,
    docker_backend,  # noqa: F811
    two_commit_env,  # noqa: F811
    kept,
):
    env, shas = two_commit_env
    prepare = Preparer()
    state = StartState(kept(env), prepare, commit=shas[0])
    first, note = docker_backend.start_prepared(env, state)
    with first:
        assert prepare.calls == 1 and note.startswith("HEAD ")
        first_diff = first.diff()
        first.write_file("scratch.txt", "only in the first sandbox\n")
    with docker_backend.start(env, commit=shas[0]) as plain:
        plain_base = plain.base
    # a new backend (another process) reads the note from the image; this one remembers it
    for backend in (backends.docker_backend(docker_engine), docker_backend):
        sandbox, again = backend.start_prepared(env, state)
        with sandbox:
            assert sandbox.container.labels[ROLE_LABEL] == "sandbox"  # swept if orphaned
            assert prepare.calls == 1 and again == note  # the note round-trips
            assert sandbox.read_file("pkg/mod.py") == "VALUE = 10\n"
            assert sandbox.read_file("notes/untracked.txt") == "kept\n"
            log = sandbox.exec("git log --format=%s; git rev-parse HEAD").output.split("\n")
            assert log[:2] == ["prepared", "commit 0"]
            assert f"HEAD {log[2]}\n" in note
            assert sandbox.exec("git status --porcelain").output == "?? notes/\n"
            assert sandbox.base == plain_base == shas[0]  # diffs as start(commit=...) does
            assert sandbox.diff() == first_diff
            assert "-VALUE = 1\n+VALUE = 10" in first_diff
            with pytest.raises(FileNotFoundError):
                sandbox.read_file("scratch.txt")
            sandbox.write_file("scratch.txt", "private\n")
    other = Preparer()
    with docker_backend.start_prepared(env, StartState(kept(env), other, shas[0]))[0]:
        assert other.calls == 1  # a different key is prepared again


def test_a_failing_prepare_keeps_nothing(docker_backend, two_commit_env, kept):  # noqa: F811
    env, shas = two_commit_env
    key = kept(env)
    failing = Preparer(fail=True)
    with pytest.raises(RuntimeError, match="on purpose"):
        docker_backend.start_prepared(env, StartState(key, failing, shas[0]))
    assert failing.sandboxes[0]._closed
    tag = states.state_tag(_image_id(docker_backend, env), key)
    assert states.image_id(docker_backend.client, tag) is None
    working = Preparer()
    for _ in range(2):
        sandbox, note = docker_backend.start_prepared(env, StartState(key, working, shas[0]))
        sandbox.close()
    assert working.calls == 1 and note.startswith("HEAD ")


def test_racing_first_callers_each_use_their_own_sandbox(
    docker_backend,  # noqa: F811
    two_commit_env,  # noqa: F811
    kept,
):
    env, shas = two_commit_env
    prepare = Preparer(barrier=threading.Barrier(2))  # both are inside prepare at once
    state = StartState(kept(env), prepare, commit=shas[0])
    results: list = []
    before = state_images(docker_backend)

    def call() -> None:
        results.append(docker_backend.start_prepared(env, state))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert prepare.calls == 2 and len(results) == 2
    for sandbox, note in results:
        with sandbox:
            assert sandbox.read_file("pkg/mod.py") == "VALUE = 10\n" and note.startswith("HEAD")
    sandbox, _ = docker_backend.start_prepared(env, state)
    sandbox.close()
    assert prepare.calls == 2  # one of the two was kept
    assert len(state_images(docker_backend)) == len(before) + 1  # and only one: none dangle


def test_remove_states_deletes_the_kept_images(docker_backend, tiny_env, kept):  # noqa: F811
    state = StartState(kept(tiny_env), lambda sb: "n")
    docker_backend.start_prepared(tiny_env, state)[0].close()  # prepared: kept
    sandbox, _ = docker_backend.start_prepared(tiny_env, state)  # a container of the image
    tag = states.state_tag(
        docker_backend.sandboxes.image_id(docker_backend.built(tiny_env)), state.key
    )
    assert states.image_id(docker_backend.client, tag) is not None
    states.remove_states(docker_backend.client, tiny_env.key)
    assert states.image_id(docker_backend.client, tag) is not None  # a sandbox of it still runs
    sandbox.close()
    assert states.remove_states(docker_backend.client, tiny_env.key) >= 1
    assert states.image_id(docker_backend.client, tag) is None


def test_cache_prune_removes_unused_state_images(docker_backend, tiny_env, kept):  # noqa: F811
    from swelego_ray.cache import PruneSummary, prune_docker

    state = StartState(kept(tiny_env), lambda sb: "n")
    docker_backend.start_prepared(tiny_env, state)[0].close()
    tag = states.state_tag(
        docker_backend.sandboxes.image_id(docker_backend.built(tiny_env)), state.key
    )
    url = docker_backend.config.base_url
    dry = PruneSummary(dry_run=True)
    prune_docker(url, ["state"], dry)
    assert dry.images["swelego-state"] >= 1
    assert states.image_id(docker_backend.client, tag) is not None  # a dry run removes nothing
    summary = PruneSummary(dry_run=False)
    prune_docker(url, ["state"], summary)
    assert summary.images["swelego-state"] >= 1
    assert states.image_id(docker_backend.client, tag) is None
    assert docker_backend.client.images.list(name="swelego-env")  # env images untouched


@pytest.mark.parametrize(
    "option", [{"read_only": True}, {"keep_start_states": False}], ids=["read_only", "off"]
)
def test_unkept_states_prepare_every_time(docker_engine, tiny_env, kept, option):  # noqa: F811
    backend = backends.docker_backend(docker_engine, **option)
    calls: list[int] = []

    def prepare(sandbox) -> str:
        calls.append(1)
        sandbox.write_file("prepared.txt", "yes\n")
        return "note"

    state = StartState(kept(tiny_env), prepare)
    for expected in (1, 2):
        sandbox, note = backend.start_prepared(tiny_env, state)
        with sandbox:
            assert len(calls) == expected and note == "note"
            assert sandbox.read_file("prepared.txt") == "yes\n"
            assert "+yes" in sandbox.diff()
