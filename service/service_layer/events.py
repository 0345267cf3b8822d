"""Reading the event log: get one event, list pages, and watch it live.

The log is written by the unit of work with every change (service.domain.events
has the contract) and then given a ``position`` by the sequencer
(service.adapters.event_log), one sequencer run at a time, so

- a page is "positions below the last one of the previous page";
- a watcher keeps the last position it delivered and asks for the ones above
  it; a position becomes visible only after every lower one, and an event
  sequenced later always gets a higher one: nothing is skipped, and a
  position is delivered once. docs/events.md states the guarantee.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol

from ..domain import errors
from ..domain.events import EVENT_TYPES, EventNotFound
from ..domain.ids import EVENT_ID
from .dependencies import Dependencies
from .handlers import fingerprint
from .validation import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, check_payment_id

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    """One row of the event log."""

    position: int
    event_id: str
    merchant_id: str
    type: str
    payment_id: str
    refund_id: str
    dispute_id: str
    sequence: int
    data: dict[str, Any]
    actor: str
    request_id: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class EventFilter:
    payment_id: str = ""
    type: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None


class EventReader(Protocol):
    async def get(self, merchant_id: str, event_id: str) -> StoredEvent | None: ...

    async def page(self, merchant_id: str, filters: EventFilter, below: int | None, limit: int) -> list[StoredEvent]:
        """Newest first, positions below ``below`` (all when None)."""
        ...

    async def after(self, merchant_id: str, position: int, limit: int) -> list[StoredEvent]:
        """Oldest first, positions above ``position``."""
        ...

    async def last_position(self, merchant_id: str) -> int:
        """The merchant's highest committed position (0 when none)."""
        ...


@dataclasses.dataclass(frozen=True)
class ListEvents:
    merchant_id: str
    filters: EventFilter = EventFilter()
    page_size: int = 0
    page_token: str = ""


def check_event_id(value: str, field: str = "event_id") -> str:
    if not EVENT_ID.match(value):
        raise errors.InvalidArgument(field, "must be an event id (evt_ followed by 26 characters)")
    return value


def check_event_type(value: str, field: str = "type") -> str:
    if value not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise errors.InvalidArgument(field, f"unknown event type {value[:64]!r}; known types: {known}")
    return value


def _validate(filters: EventFilter) -> None:
    if filters.payment_id:
        check_payment_id(filters.payment_id)
    if filters.type:
        check_event_type(filters.type)
    if filters.created_after and filters.created_before and filters.created_after >= filters.created_before:
        raise errors.InvalidArgument("created_before", "must be later than created_after")


async def get_event(merchant_id: str, event_id: str, deps: Dependencies) -> StoredEvent:
    check_event_id(event_id)
    async with deps.uow() as uow:
        event = await uow.events.get(merchant_id, event_id)
    if event is None:
        raise EventNotFound(f"event {event_id} not found")
    return event


def _tag(filters: EventFilter) -> str:
    return fingerprint(dataclasses.asdict(filters))[:12]


def _encode_token(position: int, filters: EventFilter) -> str:
    raw = json.dumps({"p": position, "f": _tag(filters)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, filters: EventFilter) -> int | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position, tag = int(data["p"]), data["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise errors.InvalidArgument("page_token", "is not a token returned by ListEvents") from None
    if tag != _tag(filters):
        raise errors.InvalidArgument("page_token", "was issued for different filters; start again without it")
    return position


def _page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise errors.InvalidArgument("page_size",
                                     f"must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})")
    return value


async def _sequence(deps: Dependencies, *, wait: bool) -> None:
    if deps.sequence_events is not None:
        await deps.sequence_events(wait=wait)


async def list_events(query: ListEvents, deps: Dependencies) -> tuple[list[StoredEvent], str]:
    """One page, newest first, and the token of the next page ('' on the last).

    Every event committed before the call is listed (the call waits for the
    sequencer to place them)."""
    _validate(query.filters)
    limit = _page_size(query.page_size)
    below = _decode_token(query.page_token, query.filters)
    await _sequence(deps, wait=True)
    async with deps.uow() as uow:
        rows = await uow.events.page(query.merchant_id, query.filters, below, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return page, _encode_token(page[-1].position, query.filters) if more else ""


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """Nothing happened for a while (keeps proxies from closing the stream)."""


async def watch_events(merchant_id: str, after: str, deps: Dependencies, *, poll_seconds: float = 0.2,
                       heartbeat_seconds: float = 15.0, batch: int = 200) -> AsyncIterator[StoredEvent | Heartbeat]:
    """Every event of the merchant committed after ``after`` ("now" or an event id), forever."""
    position = await _start(merchant_id, after, deps)
    quiet_since = time.monotonic()
    while True:
        await _sequence(deps, wait=False)
        async with deps.uow() as uow:
            rows = await uow.events.after(merchant_id, position, batch)
        for row in rows:
            yield row
            position = row.position
        if rows:
            quiet_since = time.monotonic()
            if len(rows) == batch:
                continue
        elif time.monotonic() - quiet_since >= heartbeat_seconds:
            yield Heartbeat()
            quiet_since = time.monotonic()
        await asyncio.sleep(poll_seconds)


async def _start(merchant_id: str, after: str, deps: Dependencies) -> int:
    await _sequence(deps, wait=True)
    if after in ("", "now"):
        async with deps.uow() as uow:
            return await uow.events.last_position(merchant_id)
    check_event_id(after, "after")
    return (await get_event(merchant_id, after, deps)).position  # placed: the sequencer ran above

