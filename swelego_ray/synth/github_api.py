"""`GitHubSource`: pull requests, diffs and issues from the GitHub REST API (httpx).

`GET /repos/{o}/{r}/pulls?state=closed` (newest first, paginated by the `Link` header),
`GET /repos/{o}/{r}/pulls/{n}` with the diff media type, `GET /repos/{o}/{r}/issues/{n}`.
A token (when given) goes in `Authorization: Bearer`, and only to the API's own host.
Rate limits are respected: when `X-RateLimit-Remaining` reaches 0 the next request waits
for `X-RateLimit-Reset`; a 403/429 with `Retry-After` or an exhausted limit waits and
retries; 5xx and connection errors retry with backoff. A wait longer than
`max_rate_wait_s` raises GitHubError instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from swelego_ray import __version__
from swelego_ray.synth.pulls import GitHubIssue, PullRequest, linked_issue_numbers

logger = logging.getLogger(__name__)

JSON = "application/vnd.github+json"
DIFF = "application/vnd.github.diff"
API_VERSION = "2022-11-28"
_GONE = (404, 406, 410, 422)  # no such object, or a diff too large to be served


class GitHubError(RuntimeError):
    """A request failed for good (the message names the URL and the status)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass
class GitHubSource:
    """The PRSource of the GitHub REST API at `api_url` (GitHub Enterprise: its
    `/api/v3` URL; tests: a loopback server)."""

    api_url: str = "https://api.github.com"
    token: str | None = None
    per_page: int = 100
    max_retries: int = 4
    max_rate_wait_s: float = 3600.0
    timeout_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    requests: int = 0  # requests sent (retries included)
    _resume_at: float = field(default=0.0, init=False)  # when an exhausted limit resets
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"X-GitHub-Api-Version": API_VERSION, "User-Agent": f"swelego/{__version__}"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._client = httpx.Client(
                base_url=self.api_url.rstrip("/"), headers=headers, timeout=self.timeout_s
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> GitHubSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, seconds: float, url: str) -> None:
        if seconds > self.max_rate_wait_s:
            raise GitHubError(
                f"GET {url}: rate limited for {seconds:.0f}s, more than max_rate_wait_s="
                f"{self.max_rate_wait_s:.0f}",
                403,
            )
        if seconds > 0:
            logger.info("github: rate limit, waiting %.0fs", seconds)
            self.sleep(seconds)

    def _note_limit(self, response: httpx.Response) -> float | None:
        """Remember an exhausted limit; the seconds to wait when `response` is a
        rate-limit refusal (None when it is not one)."""
        headers = response.headers
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            self._resume_at = float(headers["x-ratelimit-reset"]) + 1
        if response.status_code not in (403, 429):
            return None
        if "retry-after" in headers:
            return float(headers["retry-after"])
        if headers.get("x-ratelimit-remaining") == "0":
            return max(self._resume_at - self.clock(), 0.0)
        return None

    def get(self, url: str, *, accept: str = JSON, params: dict | None = None) -> httpx.Response:
        """GET `url` (a path under api_url, or a `Link` URL on its host); the response
        (2xx, or one of 404/406/410/422), after the waits and retries above."""
        self._same_host(url)
        for attempt in range(self.max_retries + 1):
            self._wait(self._resume_at - self.clock(), url)
            self.requests += 1
            try:
                response = self._http().get(url, params=params, headers={"Accept": accept})
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise GitHubError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
                self.sleep(2**attempt)
                continue
            refusal = self._note_limit(response)
            if refusal is not None:
                self._wait(refusal, url)
                continue
            if response.status_code >= 500 and attempt < self.max_retries:
                self.sleep(2**attempt)
                continue
            if response.is_success or response.status_code in _GONE:
                return response
            raise GitHubError(
                f"GET {url}: HTTP {response.status_code}: {response.text[:300]}",
                response.status_code,
            )
        raise GitHubError(f"GET {url}: still refused after {self.max_retries} retries", 429)

    def _same_host(self, url: str) -> None:
        target, api = httpx.URL(url), httpx.URL(self.api_url)
        where = (target.scheme, target.host, target.port)
        if target.is_absolute_url and where != (api.scheme, api.host, api.port):
            raise GitHubError(f"refusing to follow {url}: not on {self.api_url}")

    def pulls(self, repo: str) -> Iterator[PullRequest | str]:
        """Closed pull requests, newest created first, page by page."""
        url: str | None = f"/repos/{repo}/pulls"
        params: dict | None = {
            "state": "closed",
            "sort": "created",
            "direction": "desc",
            "per_page": self.per_page,
        }
        while url:
            response = self.get(url, params=params)
            if response.status_code in _GONE:
                raise GitHubError(f"GET {url}: HTTP {response.status_code}", response.status_code)
            items = response.json()
            if not isinstance(items, list):
                raise GitHubError(
                    f"GET {url}: expected a list of pull requests, got {items!r:.200}"
                )
            for item in items:
                try:
                    yield PullRequest.model_validate(item)
                except ValidationError as exc:
                    logger.warning("github %s: a malformed pull request: %s", repo, exc)
                    yield "malformed_record"
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries them

    def diff(self, repo: str, pr: PullRequest) -> str | None:
        response = self.get(f"/repos/{repo}/pulls/{pr.number}", accept=DIFF)
        return response.text if response.is_success else None

    def linked(self, repo: str, pr: PullRequest) -> list[int]:
        return linked_issue_numbers(pr.body, repo)

    def issue(self, repo: str, pr: PullRequest, number: int) -> GitHubIssue | None:
        response = self.get(f"/repos/{repo}/issues/{number}")
        if not response.is_success:
            return None
        issue = GitHubIssue.model_validate(response.json())
        return issue if issue.pull_request is None else None
