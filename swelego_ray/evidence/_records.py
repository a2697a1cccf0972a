"""Signed per-test records (written by the pytest plugin inside the sandbox), verified here.

A record is `<seq> <STATUS> <mac> <node id as a JSON string>`; `sign` is the same MAC the
plugin computes (swelego_evidence.py). Only an unbroken sequence from START (0) to END
counts as a whole session; statuses come from records whose MAC verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from pydantic import BaseModel, ConfigDict, Field

from swelego_ray.testlogs import TestStatus

MAC_HEX = 32
_LINE_RE = re.compile(rf"^(\d+) ([A-Z]+) ([0-9a-f]{{{MAC_HEX}}}) (\".*\")$")
_KINDS = {"START", "END", *(s.value for s in TestStatus)}


def sign(secret: str, seq: int, status: str, name: str) -> str:
    """The MAC of one record (the plugin's formula)."""
    message = f"{seq}\0{status}\0{name}".encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:MAC_HEX]


def record_line(secret: str, seq: int, status: str, name: str) -> str:
    """A record as the plugin writes it (without the newline)."""
    return f"{seq} {status} {sign(secret, seq, status, name)} {json.dumps(name)}"


class SignedRecords(BaseModel):
    """What the records section of a run holds, once verified."""

    model_config = ConfigDict(extra="forbid")

    results: list[tuple[str, TestStatus]] = Field(default_factory=list)  # (node id, status)
    started: bool = False  # record 0 is a verified START
    finished: bool = False  # the last verified record is END, with no gap before it
    exit_status: int | None = None  # pytest's own, from END
    bad_lines: list[str] = Field(default_factory=list)  # lines that are not valid records
    gaps: int = 0  # records missing from the sequence

    @property
    def complete(self) -> bool:
        return self.started and self.finished and not self.gaps and not self.bad_lines


def _parse(line: str, secret: str) -> tuple[int, str, str] | None:
    """(seq, status, name) of a well-formed record whose MAC verifies, else None."""
    match = _LINE_RE.match(line)
    if not match or match.group(2) not in _KINDS:
        return None
    seq, status, mac, raw = int(match.group(1)), match.group(2), match.group(3), match.group(4)
    try:
        name = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(name, str):
        return None
    if not hmac.compare_digest(mac, sign(secret, seq, status, name)):
        return None
    return seq, status, name


def verify_records(text: str, secret: str) -> SignedRecords:
    """Verify every line of a records section with `secret`."""
    out = SignedRecords()
    expected = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        parsed = _parse(line, secret)
        if parsed is None:
            out.bad_lines.append(line[:300])
            continue
        seq, status, name = parsed
        if seq != expected:
            out.gaps += abs(seq - expected)
        expected = seq + 1
        out.finished = False  # only END as the very last record finishes the session
        if status == "START":
            out.started = out.started or seq == 0
        elif status == "END":
            out.finished = True
            out.exit_status = int(name) if name.lstrip("-").isdigit() else None
        else:
            out.results.append((name, TestStatus(status)))
    return out


def verified_log(records: SignedRecords) -> str:
    """The verified statuses as `-rA` summary lines, for the task's own log parser (which
    then applies its id normalisation, e.g. shortened path parameters)."""
    lines = (f"{status.value} {_one_line(name)}\n" for name, status in records.results)
    return "".join(lines)


def _one_line(name: str) -> str:
    return name.replace("\r", "\\r").replace("\n", "\\n")
