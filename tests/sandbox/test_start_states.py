"""Kept start states on the local backend (real bubblewrap + OverlayFS, and copy mode)."""

from __future__ import annotations

import threading

import pytest

from swelego_ray.envs import EnvBackend, backends
from swelego_ray.sandbox import StartState
from swelego_ray.sandbox._states import StateStore

MODES = ["overlay", "copy"]


class Preparer:
    """A prepare function that counts its calls and leaves a recognisable state."""

    def __init__(self, marker: str = "prepared") -> None:
        self.calls = 0
        self.marker = marker

    def __call__(self, sandbox) -> str:
        self.calls += 1
        script = (
            f"echo {self.marker} > state.txt && rm README.md && git add -A && "
            "git -c user.name=t -c user.email=t@l commit -qam prepared && git rev-parse HEAD"
        )
        result = sandbox.exec(script)
        assert result.exit_code == 0, result.output
        return result.output.strip()


@pytest.fixture(params=MODES)
def backend(request, sandbox_cache, tmp_path) -> EnvBackend:
    return backends.local_backend(
        cache_root=sandbox_cache, workspace=request.param, workspace_root=tmp_path / "ws"
    )


def _unique_key(tmp_path, name: str) -> str:
    return f"{tmp_path.name}-{name}"  # per-test keys: the cache is shared by the session


def test_prepare_runs_once_and_later_sandboxes_start_in_the_state(backend, plain_env, tmp_path):
    prepare = Preparer()
    state = StartState(key=_unique_key(tmp_path, "a"), prepare=prepare)
    first, note = backend.start_prepared(plain_env, state)
    with first:
        assert prepare.calls == 1
        assert first.read_file("state.txt") == "prepared\n"
        first.exec("echo mine > scratch.txt")  # after the state was kept: not part of it
    second, note2 = backend.start_prepared(plain_env, state)
    with second:
        assert prepare.calls == 1, "a kept state must not be prepared again"
        assert note2 == note and len(note) == 40
        assert second.read_file("state.txt") == "prepared\n"
        assert second.exec("test -e README.md").exit_code == 1  # deletions kept too
        assert second.exec("git rev-parse HEAD").output.strip() == note
        assert second.exec("test -e scratch.txt").exit_code == 1
        assert second.exec("git status --porcelain").output == ""
        # the kept copy is read-only underneath: writes go to this sandbox only
        second.exec("echo changed > state.txt")
    with backend.start_prepared(plain_env, state)[0] as third:
        assert third.read_file("state.txt") == "prepared\n"


def test_another_key_prepares_again(backend, plain_env, tmp_path):
    one, two = Preparer("one"), Preparer("two")
    a, _ = backend.start_prepared(plain_env, StartState(_unique_key(tmp_path, "1"), one))
    b, _ = backend.start_prepared(plain_env, StartState(_unique_key(tmp_path, "2"), two))
    with a, b:
        assert (one.calls, two.calls) == (1, 1)
        assert a.read_file("state.txt") == "one\n" and b.read_file("state.txt") == "two\n"


def test_a_failing_prepare_keeps_nothing(backend, plain_env, tmp_path):
    def boom(sandbox) -> str:
        sandbox.exec("echo half > state.txt")
        raise RuntimeError("prepare failed")

    key = _unique_key(tmp_path, "boom")
    with pytest.raises(RuntimeError, match="prepare failed"):
        backend.start_prepared(plain_env, StartState(key, boom))
    prepare = Preparer()
    sandbox, _ = backend.start_prepared(plain_env, StartState(key, prepare))
    with sandbox:
        assert prepare.calls == 1 and sandbox.read_file("state.txt") == "prepared\n"


def test_states_on_another_commit_start_from_that_checkout(local_backend, plain_env, tmp_path):
    older = local_backend.start(plain_env).lower  # the built testbed
    first_commit = _first_commit(local_backend, plain_env)
    prepare = Preparer()
    state = StartState(_unique_key(tmp_path, "old"), prepare, commit=first_commit)
    for _ in range(2):
        sandbox, _ = local_backend.start_prepared(plain_env, state)
        with sandbox:
            assert sandbox.lower != older
            assert sandbox.read_file("pkg/mod.py") == "VALUE = 1\n"
            assert sandbox.read_file("state.txt") == "prepared\n"
    assert prepare.calls == 1


def _first_commit(backend, env) -> str:
    with backend.start(env) as sandbox:
        return sandbox.exec("git rev-parse HEAD~1").output.strip()


def test_concurrent_preparers_both_get_the_state(local_backend, plain_env, tmp_path):
    prepare = Preparer()
    state = StartState(_unique_key(tmp_path, "race"), prepare)
    out: list = []
    threads = [
        threading.Thread(target=lambda: out.append(local_backend.start_prepared(plain_env, state)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sandbox, _ in out:
        with sandbox:
            assert sandbox.read_file("state.txt") == "prepared\n"
    assert 1 <= prepare.calls <= 2  # a lost race prepares twice, never breaks a sandbox


def test_store_evicts_least_recently_used_states_not_in_use(tmp_path):
    store = StateStore(tmp_path / "states", cap_bytes=10_000)

    def publish(name: str, size: int):
        workspace = tmp_path / f"ws-{name}"
        workspace.mkdir()
        (workspace / "blob").write_bytes(b"x" * size)
        return store.publish(name, workspace, f"note {name}")

    held_a = publish("a", 6_000)
    held_a.release()
    held_b = publish("b", 6_000)  # over the cap: a (unused) goes
    assert store.acquire("a") is None
    held_c = publish("c", 6_000)  # b is held: it stays, over the cap
    assert (tmp_path / "states" / "b").is_dir()
    assert store.acquire("b").note == "note b"
    for held in (held_b, held_c):
        held.release()


def test_half_published_states_of_dead_processes_are_swept(tmp_path):
    root = tmp_path / "states"
    (root / ".tmp-999999999-1-abcd" / "layer").mkdir(parents=True)
    (root / ".trash-1234").mkdir()
    StateStore(root, cap_bytes=1 << 30)
    assert sorted(p.name for p in root.iterdir()) == []


def test_exec_feeds_stdin(sandbox):
    data = bytes(range(256)) * 8192  # 2 MiB, binary: more than a pipe buffer
    result = sandbox.exec("sha256sum | cut -c1-16; echo out >&2", stdin=data)
    import hashlib

    assert result.output.splitlines()[0] == hashlib.sha256(data).hexdigest()[:16]
    assert sandbox.exec("cat | wc -c").output.strip() == "0"  # no stdin: empty
    # a command that writes much before it reads does not deadlock against the feeder
    big = sandbox.exec("head -c 3000000 /dev/zero | wc -c; cat | wc -c", stdin=data)
    assert big.output.split() == ["3000000", str(len(data))]
