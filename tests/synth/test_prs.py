"""Strategy `prs`: pull requests from a dump and from the REST API (a loopback server
stands in for GitHub: no internet here) go through the same filters; the good one is
validated into a real task whose statement is its issue's text."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from pr_dump import EXPECTED_DROPS, ISSUE, REPO, STATEMENT, make_pr_repo, pull_requests, write_dump
from synth_repos import SPEC

from swelego_ray.schema import Provenance, read_tasks
from swelego_ray.synth import RepoInput, SynthConfig, SynthFunnel, propose, run_synthesis
from swelego_ray.synth.diffs import split_diff
from swelego_ray.synth.github_api import GitHubError, GitHubSource
from swelego_ray.synth.prs import KEY, mine_pull_requests
from swelego_ray.synth.pulls import PRFile, files_diff, linked_issue_numbers
from swelego_ray.synth.repos import RepoSnapshot


@pytest.fixture(scope="module")
def pr_repo(tmp_path_factory):
    return make_pr_repo(tmp_path_factory.mktemp("prs") / "acme__stats")


def _cfg(repo: Path, out: Path, **fields) -> SynthConfig:
    return SynthConfig(
        repos=[RepoInput(path=str(repo), env_spec=SPEC)],
        out=str(out),
        strategies=["prs"],
        **fields,
    )


def test_links_and_diff_split():
    body = "Fixes #12, closes acme/stats#3. Resolves https://github.com/acme/stats/issues/5\n"
    body += "fixes other/repo#9; see #4; Fixed: #12"
    assert linked_issue_numbers(body, REPO) == [12, 3, 5]
    diff = (
        "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/old.py b/new.py\nsimilarity index 100%\nrename from old.py\n"
        "rename to new.py\n"
        "diff --git a/i.png b/i.png\nBinary files a/i.png and b/i.png differ\n"
    )
    files = split_diff(diff)
    assert [(f.path, f.old_path, f.binary) for f in files] == [
        ("a.py", "a.py", False),
        ("new.py", "old.py", False),
        ("i.png", "i.png", True),
    ]
    assert "".join(f.text for f in files) == diff
    with pytest.raises(ValueError, match="not a git diff"):
        split_diff("hello\ndiff --git a/x b/x\n")
    added = files_diff([PRFile(filename="t.py", status="added", patch="@@ -0,0 +1 @@\n+x")])
    assert added == "diff --git a/t.py b/t.py\nnew file mode 100644\n--- /dev/null\n+++ b/t.py\n" \
        "@@ -0,0 +1 @@\n+x\n"  # fmt: skip
    assert files_diff([PRFile(filename="i.png", status="modified")]) is None


def test_dump_funnel(pr_repo, tmp_path: Path):
    dump = write_dump(pr_repo, tmp_path / "pulls.jsonl")
    funnel = SynthFunnel()
    found = propose(_cfg(pr_repo.path, tmp_path / "o", prs={"dump": str(dump)}), funnel)
    assert [c.instance_id for c in found] == ["acme__stats.prs.10"]
    cand = found[0]
    assert cand.base_commit == pr_repo.base and cand.provenance is Provenance.REAL
    assert cand.problem_statement == STATEMENT and cand.created_at == "2024-01-20T12:30:00Z"
    assert "b/stats.py" in cand.patch and "tests/" not in cand.patch
    assert (
        "b/tests/test_stats.py" in cand.test_patch and "stats.py b/stats.py" not in cand.test_patch
    )
    assert cand.patch + cand.test_patch == pr_repo.diff  # the whole diff, split by path
    assert cand.origin.commit == pr_repo.fix and cand.extra_meta["pull_request"]["issues"] == [7]
    row = funnel.rows[KEY]
    # 11 pull requests of acme/stats + 1 malformed line; other/repo's is not this repo's
    assert row.reached["candidates"] == 11 and row.reached["compiles"] == 1
    expected = Counter(EXPECTED_DROPS.values())
    expected["malformed_record"] += 1
    assert row.dropped == expected

    # the same pull request given as /pulls/{n}/files objects instead of a diff
    files = [
        PRFile(filename=f.path, patch=f.text[f.text.index("@@") :])
        for f in split_diff(pr_repo.diff)
    ]
    as_files = {**pull_requests(pr_repo)[0], "diff": None, "files": [f.model_dump() for f in files]}
    dump.write_text(json.dumps(as_files) + "\n")
    funnel = SynthFunnel()
    again = propose(_cfg(pr_repo.path, tmp_path / "o", prs={"dump": str(dump)}), funnel)
    assert [c.instance_id for c in again] == ["acme__stats.prs.10"]
    assert funnel.rows[KEY].reached["compiles"] == 1


class _FakeGitHub(BaseHTTPRequestHandler):
    """The REST API for acme/stats, from the dump's objects: two pages of pulls (the
    first exhausts the rate limit, the second is refused once with Retry-After), diffs
    by media type (the first diff request fails once with 502), issues."""

    pulls: list[dict] = []
    issues: dict[int, dict] = {}
    seen: list[tuple[str, str, str]] = []  # (path, Accept, Authorization)
    failures: Counter[str] = Counter()

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: str, **headers: str) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in {"Content-Length": str(len(data)), **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _once(self, what: str) -> bool:
        self.failures[what] += 1
        return self.failures[what] == 1

    def do_GET(self) -> None:
        url = urlparse(self.path)
        accept = self.headers.get("Accept", "")
        self.seen.append((url.path, accept, self.headers.get("Authorization", "")))
        parts = url.path.strip("/").split("/")
        if parts[:4] == ["repos", "acme", "stats", "pulls"] and len(parts) == 4:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            if page == 1:
                nxt = f'<http://127.0.0.1:{self.server.server_port}{url.path}?page=2>; rel="next"'
                body = json.dumps(self.pulls[:5])
                self._send(200, body, Link=nxt, X_RateLimit_Remaining="0", X_RateLimit_Reset="1005")
            elif self._once("page2"):
                self._send(429, "{}", Retry_After="2")
            else:
                self._send(200, json.dumps(self.pulls[5:]))
        elif parts[:4] == ["repos", "acme", "stats", "pulls"] and accept.endswith(".diff"):
            if parts[4] == "10" and self._once("diff"):
                self._send(502, "bad gateway")
                return
            pr = next(p for p in self.pulls if str(p["number"]) == parts[4])
            self._send(200, pr["_diff"], Content_Type="text/plain")
        elif parts[:4] == ["repos", "acme", "stats", "issues"] and int(parts[4]) in self.issues:
            self._send(200, json.dumps(self.issues[int(parts[4])]))
        else:
            self._send(404, '{"message": "Not Found"}')


def test_github_api_same_funnel(pr_repo, tmp_path: Path):
    served = []
    for pr in pull_requests(pr_repo):
        if pr["base"]["repo"]["full_name"] == REPO:  # GitHub lists one repository's
            served.append({**{k: v for k, v in pr.items() if k not in ("diff", "issues")},
                           "_diff": pr["diff"]})  # fmt: skip
    _FakeGitHub.pulls = served
    _FakeGitHub.issues = {7: ISSUE, 8: {"number": 8, "title": "bug"}}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    try:
        source = GitHubSource(
            api_url=f"http://127.0.0.1:{server.server_port}",
            token="test-token",
            per_page=5,
            sleep=waits.append,
            clock=lambda: 1000.0 + sum(waits),  # time passes only while it waits
        )
        funnel = SynthFunnel()
        cfg = _cfg(pr_repo.path, tmp_path / "o", prs={"api_url": "http://127.0.0.1:1"})
        snapshot = RepoSnapshot.open(pr_repo.path, None, "HEAD", SPEC)
        with source:
            found = mine_pull_requests(snapshot, cfg, funnel, source)
            with pytest.raises(GitHubError, match="refusing to follow"):  # the token stays
                source.get("http://example.invalid/next")
    finally:
        server.shutdown()
        server.server_close()
    assert [c.instance_id for c in found] == ["acme__stats.prs.10"]
    assert found[0].problem_statement == STATEMENT and found[0].patch + found[0].test_patch == (
        pr_repo.diff
    )
    assert funnel.rows[KEY].dropped == Counter(EXPECTED_DROPS.values())
    # the request after page 1 waited for the exhausted limit's reset (1005 + 1 - 1000),
    # the 502 was retried after 1 s, the 429 after its Retry-After
    assert waits == [6, 1, 2]
    assert {auth for _, _, auth in _FakeGitHub.seen} == {"Bearer test-token"}
    diffs = [p for p, accept, _ in _FakeGitHub.seen if accept == "application/vnd.github.diff"]
    assert "/repos/acme/stats/pulls/10" in diffs and "/repos/acme/stats/pulls/11" not in diffs


def test_prs_end_to_end(pr_repo, synth_cache: Path, tmp_path: Path):
    dump = write_dump(pr_repo, tmp_path / "pulls.jsonl")
    out = tmp_path / "synth"
    cfg = _cfg(
        pr_repo.path,
        out,
        prs={"dump": str(dump)},
        in_process=True,
        workers=1,
        progress=False,
        cache_root=str(synth_cache),
        backend={"kind": "local", "cache_root": str(synth_cache)},
        limits={"timeout_s": 60, "memory_mb": 2048},
        timeout_s=300,
    )
    report = run_synthesis(cfg)
    tasks = read_tasks(out / "tasks.jsonl")
    assert [t.instance_id for t in tasks] == [t.instance_id for t in report.tasks]
    (task,) = tasks
    assert task.FAIL_TO_PASS == ["tests/test_stats.py::test_mean"]
    assert "tests/test_stats.py::test_clamp" in task.PASS_TO_PASS
    assert task.problem_statement == STATEMENT and task.base_commit == pr_repo.base
    assert task.provenance is Provenance.REAL and task.meta["pull_request"]["number"] == 10
    funnel = json.loads((out / "funnel.json").read_text())["by_transform"]["prs/pull_request"]
    assert funnel["candidates"] == 11 and funnel["written"] == 1
    assert sum(funnel["dropped"].values()) == 10 and funnel["dropped"]["base_missing"] == 1
