"""What items give the engine and what the engine gives back: typed, one per item."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T_contra = TypeVar("T_contra", contravariant=True)
R = TypeVar("R", bound=BaseModel)


class ItemFailure(StrEnum):
    """Why the engine got no result for an item. None of these is a verdict on the item
    itself except `item_error` (its code raised); a rerun retries every one."""

    ITEM_TIMEOUT = "item_timeout"  # past the per-item deadline: stopped, its worker kept
    ITEM_ERROR = "item_error"  # the item function raised (traceback recorded)
    WORKER_CRASHED = "worker_crashed"  # its worker process died, twice (it was retried)
    ITEM_LOST = "item_lost"  # never started, or Ray lost it (its node went away)


class ItemOutput(BaseModel):
    """What an item function returns: a JSON record, plus text files stored beside it.
    (A function may also return its pydantic result model, or a dict, alone.)"""

    model_config = ConfigDict(extra="forbid")

    record: dict[str, Any]
    files: dict[str, str] = Field(default_factory=dict)  # suffix -> text, e.g. "test.log"

    @classmethod
    def of(cls, value: ItemOutput | BaseModel | dict[str, Any]) -> ItemOutput:
        """What an item function returned, as an ItemOutput."""
        if isinstance(value, ItemOutput):
            return value
        if isinstance(value, BaseModel):
            return cls(record=value.model_dump(mode="json"))
        return cls(record=value)


class ItemResult(BaseModel):
    """One item's outcome. `record` is the item function's record when `ok`."""

    model_config = ConfigDict(extra="forbid")

    index: int  # the item's position in the stage's input
    item_id: str
    key: str | None = None  # where the record is stored (None: the stage keeps none)
    ok: bool
    cached: bool = False  # reused from an earlier run
    record: dict[str, Any] | None = None
    reason: ItemFailure | None = None
    error: str = ""  # exception text and traceback tail, or what the engine saw
    duration_s: float = 0.0
    partial_key: str | None = None  # the last partial output the item published, if any

    def value(self, model: type[R]) -> R:
        """The record as the stage's result model (ValueError when the item failed)."""
        if self.record is None:
            raise ValueError(f"item {self.item_id} has no result ({self.reason}): {self.error}")
        return model.model_validate(self.record)

    def to_row(self) -> dict[str, Any]:
        """A flat row for an Arrow batch (the record as JSON text)."""
        row = self.model_dump(exclude={"record"})
        row["reason"] = self.reason.value if self.reason else None
        row["record"] = json.dumps(self.record) if self.record is not None else None
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ItemResult:
        record = row.get("record")
        return cls.model_validate({**row, "record": json.loads(record) if record else None})


class ItemContext(Protocol):
    """What an item function may use besides its item."""

    @property
    def item_id(self) -> str: ...

    def publish(self, partial: ItemOutput) -> None:
        """Store partial output now (e.g. a trajectory after each step): it survives the
        item's timeout or crash, and its key is in the ItemResult."""
        ...

    def remaining_s(self) -> float:
        """Seconds left before the item's deadline (inf without one)."""
        ...


class ItemFunction(Protocol[T_contra]):
    """The per-item work: `fn(item, ctx) -> ItemOutput`, or its result model or a record
    dict alone."""

    def __call__(
        self, item: T_contra, ctx: ItemContext, /
    ) -> ItemOutput | BaseModel | dict[str, Any]: ...


def attachment_key(key: str, suffix: str) -> str:
    """Where a file attached to the result at `key` is stored (`.../<hash>.<suffix>`)."""
    return f"{key.removesuffix('.json')}.{suffix}"


def partial_key(key: str) -> str:
    """Where an item's partial output record is stored."""
    return attachment_key(key, "partial.json")


__all__ = [
    "ItemContext",
    "ItemFailure",
    "ItemFunction",
    "ItemOutput",
    "ItemResult",
    "attachment_key",
    "partial_key",
]
