"""`swelego synth` refuses bad input before any work, naming the problem."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swelego_ray.cli.main import app
from swelego_ray.synth import read_repos_list

runner = CliRunner()


def _run(*argv: str) -> tuple[int, str]:
    result = runner.invoke(app, ["synth", *argv])
    return result.exit_code, result.output


def test_bad_input_is_refused(tmp_path: Path, stats_repo: Path):
    code, out = _run("--out", str(tmp_path / "o"))
    assert code == 2 and "--repo PATH" in out
    code, out = _run("--repo", str(stats_repo), "--out", str(tmp_path / "o"), "--strategies", "x")
    assert code == 2 and "strategies ['x']" in out
    code, out = _run("--repo", str(tmp_path), "--out", str(tmp_path / "o"), "--candidates", "1")
    assert code == 2 and "not a git repository" in out
    listing = tmp_path / "repos.txt"
    listing.write_text("# repositories\nacme__stats owner/stats\n\n/abs/path\n")
    repos = read_repos_list(listing)
    assert [(r.path, r.name) for r in repos] == [
        (str(tmp_path / "acme__stats"), "owner/stats"),
        ("/abs/path", None),
    ]
    listing.write_text("a b c\n")
    code, out = _run("--repos-list", str(listing), "--out", str(tmp_path / "o"))
    assert code == 2 and "repos.txt:1" in out
    base = ["--repo", str(stats_repo), "--out", str(tmp_path / "o")]
    code, out = _run(*base, "--llm-model", "tiny")
    assert code == 2 and "--llm-model needs --llm-url" in out
    code, out = _run(*base, "--strategies", "llm", "--llm-url", "ftp://nowhere")
    assert code == 2 and "ftp://nowhere" in out
    code, out = _run(*base, "--strategies", "prs")
    assert code == 2 and "strategy prs needs prs.dump (--pr-dump FILE)" in out
    code, out = _run(*base, "--strategies", "prs", "--pr-dump", "x", "--github-api", "http://h")
    assert code == 2 and "not both" in out
    code, out = _run(*base, "--strategies", "prs", "--pr-dump", str(tmp_path / "none.jsonl"))
    assert code == 2 and "none.jsonl: no such file" in out
