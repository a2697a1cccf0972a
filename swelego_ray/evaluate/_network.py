"""Graded tests that failed reaching the network, which sandboxes never have.

SWE-bench's images run tests with the network on; some tasks' tests need it (old
requests suites call httpbin.org). Here every test runs without a network, so such a
test fails whatever the patch. `network_failures` names the failing graded tests whose
failure shows a network error (name resolution, an unreachable network, a refused
outside connection), read from pytest's failure sections (`____ Class.test ____`), or,
for other runners, from the whole output. It is an annotation, not a verdict: the
instance stays unresolved. The rule that uses it (docs/evaluation.md): an instance whose
*gold* patch has such failures is network-only; benchmarks list it and leave it out
(`--exclude`), never run it with the network on.
"""

from __future__ import annotations

import re

# What a test without a network sees: DNS failing, no route, urllib3 / requests /
# aiohttp / curl wording of the same. A connection refused on loopback is not one (tests
# start local servers).
NETWORK_ERROR = re.compile(
    r"Temporary failure in name resolution|Name or service not known"
    r"|No address associated with hostname|nodename nor servname|getaddrinfo failed"
    r"|Network is unreachable|No route to host|\[Errno (?:-2|-3|-5|101|113)\]"
    r"|NameResolutionError|Failed to resolve '|Could not resolve host",
)
_HEADER = re.compile(r"^_{3,} (.+?) _{3,}$")
_SECTION_END = re.compile(r"^={3,}")
_PHASE = re.compile(r"^ERROR at (?:setup|teardown) of ")


def _head_line(test_id: str) -> str:
    """pytest's failure-section title of a test id: `path::Class::test[p]` ->
    `Class.test[p]`."""
    return ".".join(test_id.split("::")[1:]) or test_id


def _sections(output: str) -> dict[str, str]:
    """pytest's failure and error sections: title (phase prefix dropped) -> text."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        header = _HEADER.match(line)
        if header:
            current = sections.setdefault(_PHASE.sub("", header.group(1)), [])
        elif _SECTION_END.match(line):
            current = None
        elif current is not None:
            current.append(line)
    return {title: "\n".join(lines) for title, lines in sections.items()}


def network_failures(output: str, failing: list[str]) -> list[str]:
    """The tests of `failing` (graded tests that did not pass) whose failure shows a
    network error in the test output `output`."""
    if not failing or not NETWORK_ERROR.search(output):
        return []
    sections = _sections(output)
    if not sections:  # not pytest's report: the output as a whole
        return list(failing)
    return [t for t in failing if any(NETWORK_ERROR.search(x) for x in _texts(sections, t))]


def _texts(sections: dict[str, str], test_id: str) -> list[str]:
    """The sections of `test_id`; an id cut inside its parameters (as public SWE-bench
    rows store `test[a b]`: `test[a`) matches every title it begins."""
    head = _head_line(test_id)
    if "[" in head and not head.endswith("]"):
        return [text for title, text in sections.items() if title.startswith(head)]
    return [sections.get(head, "")]
