"""The event log in PostgreSQL: appended with each change, sequenced, read by the events API.

Writing (``EventJournal``, owned by one unit of work): the payment repository
hands it every payment it writes (``collect``); it turns the payment's
recorded domain events into rows (id, sequence, snapshot, actor, request id,
time) and ``flush`` inserts them, with one ``event_queue`` row each, just
before COMMIT, in one statement. The repository stages its last writes here
too (a new payment's row, a saved payment's UPDATE ... WHERE version, a key's
completion): they go in that same statement, so a settle ends with one
statement and COMMIT. Writers take no lock beyond the payment row they already
hold, so they never queue behind each other.

Sequencing (``sequence``): ``sequence_events()`` runs one at a time (an
advisory lock) and gives the queued events that are committed a ``position``,
oldest insertion first, in its own short transaction. Because only one
sequencer commits at a time, positions become visible in increasing order: a
reader that sees position p has seen every lower one. An event committed
after a sequencer run gets a position above all existing ones. So following
``position`` never skips and never repeats (docs/events.md).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.logs import request_id_var

from ..domain import errors
from ..domain.ids import new_event_id
from ..domain.model import Payment, utcnow
from ..domain.snapshot import to_snapshot
from ..service_layer.audit import current_actor
from ..service_layer.events import EventFilter, StoredEvent
from .event_tables import event_positions, events
from .hot_statements import CLAIM_KEY, IF_CLAIMED, claimed, combined
from .pg import Statement, Transaction

_POSITIONED = event_positions.join(events, events.c.event_id == event_positions.c.event_id)
_COLUMNS = [event_positions.c.position, *[c for c in events.c if c.name != "id"]]


def stored_event(row: Any) -> StoredEvent:
    return StoredEvent(**{field.name: getattr(row, field.name) for field in dataclasses.fields(StoredEvent)})


class SqlEventReader:
    """The read side (service.service_layer.events.EventReader)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        row = (await self.connection.execute(
            select(func.coalesce(event_positions.c.position, 0).label("position"),
                   *[c for c in events.c if c.name != "id"])
            .select_from(events.outerjoin(event_positions, event_positions.c.event_id == events.c.event_id))
            .where(events.c.merchant_id == merchant_id, events.c.event_id == event_id))).first()
        return stored_event(row) if row else None

    async def page(self, merchant_id: str, filters: EventFilter, below: int | None, limit: int) -> list[StoredEvent]:
        query = select(*_COLUMNS).select_from(_POSITIONED).where(event_positions.c.merchant_id == merchant_id)
        if filters.payment_id:
            query = query.where(events.c.payment_id == filters.payment_id)
        if filters.type:
            query = query.where(events.c.type == filters.type)
        if filters.created_after:
            query = query.where(events.c.created_at >= filters.created_after)
        if filters.created_before:
            query = query.where(events.c.created_at < filters.created_before)
        if below is not None:
            query = query.where(event_positions.c.position < below)
        rows = (await self.connection.execute(query.order_by(event_positions.c.position.desc()).limit(limit))).all()
        return [stored_event(row) for row in rows]

    async def after(self, merchant_id: str, position: int, limit: int) -> list[StoredEvent]:
        query = (select(*_COLUMNS).select_from(_POSITIONED)
                 .where(event_positions.c.merchant_id == merchant_id, event_positions.c.position > position)
                 .order_by(event_positions.c.position).limit(limit))
        return [stored_event(row) for row in (await self.connection.execute(query)).all()]

    async def last_position(self, merchant_id: str) -> int:
        found = (await self.connection.execute(
            select(func.max(event_positions.c.position)).where(event_positions.c.merchant_id == merchant_id)
        )).scalar()
        return found or 0


class EventJournal:
    """Events staged by one transaction, written by ``flush`` just before commit."""

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction
        self.rows: list[dict[str, Any]] = []
        # Writes sent with the events: (statement, values, the ConcurrentUpdate message if it changes no row).
        self.writes: list[tuple[Statement, dict[str, Any], str]] = []

    def stage(self, statement: Statement, values: dict[str, Any], *, must_change: str = "") -> None:
        """Send ``statement`` with the next flush, in the same statement as the events; with
        ``must_change``, the flush raises ConcurrentUpdate(must_change) unless it changed one row."""
        self.writes.append((statement, values, must_change))

    def collect(self, payment: Payment) -> None:
        """Take the payment's recorded events; its version is already the last event's sequence."""
        if not payment.events:
            return
        snapshot = to_snapshot(payment)
        first = payment.version - len(payment.events) + 1
        actor, request_id, now = current_actor(), request_id_var.get(), utcnow()
        for offset, event in enumerate(payment.events):
            self.rows.append({
                "event_id": new_event_id(), "merchant_id": payment.merchant_id, "type": event.type,
                "payment_id": event.payment_id, "refund_id": event.refund_id, "dispute_id": event.dispute_id,
                "sequence": first + offset, "data": snapshot, "actor": actor, "request_id": request_id,
                "created_at": now,
            })
        payment.events.clear()

    async def flush(self, *, last: bool = False) -> None:
        """Send the staged writes, insert the events and queue them for the sequencer: one statement.
        ``last``: the unit of work's last statement (its commit follows); when it is also its first,
        it is sent alone (pg.py: no BEGIN/COMMIT), unless a write must change a row (a save's version
        check): that raises ConcurrentUpdate after the statement, so it needs the transaction's
        rollback."""
        if not self.rows and not self.writes:
            return
        writes, self.writes = self.writes, []
        args = [arg for statement, values, _ in writes for arg in statement.args(values)]
        with_events = bool(self.rows)
        if with_events:
            args.append(self._events_arg())
            self.rows = []
        guards = tuple(n for n, (_, _, must_change) in enumerate(writes) if must_change)
        sql = combined(tuple(statement for statement, _, _ in writes), with_events, guards)
        alone = last and not guards and not self.transaction.open
        changed = await self.transaction.fetchval(sql, tuple(args), alone=alone)
        for (_, _, must_change), count in zip(writes, changed, strict=True):
            if must_change and count != 1:
                raise errors.ConcurrentUpdate(must_change)

    async def flush_claimed(self, claim: dict[str, Any]) -> Any | None:
        """Claim an idempotency key (hot_statements.CLAIM_KEY with ``claim``) and, only if the key was
        claimed, send the staged writes and the events with it: one statement, the unit of work's first
        and only one, sent alone. Returns its row (hot_statements.claimed), or None when that cannot be
        (something was sent already, or a staged write has no form guarded by the claim), having sent
        nothing. Unless the key was claimed, nothing was written and everything stays staged."""
        if self.transaction.open or any(statement not in IF_CLAIMED or must_change
                                        for statement, _, must_change in self.writes):
            return None
        writes = tuple(IF_CLAIMED[statement] for statement, _, _ in self.writes)
        args = [*CLAIM_KEY.args(claim),
                *(arg for guarded, (_, values, _) in zip(writes, self.writes, strict=True)
                  for arg in guarded.args(values))]
        if self.rows:
            args.append(self._events_arg())
        row = await self.transaction.fetchrow_sql(claimed(writes, bool(self.rows)), tuple(args), alone=True)
        if row["claimed"]:
            self.writes, self.rows = [], []
        return row

    def discard(self) -> None:
        """Forget what is staged (the claim it depended on was not made)."""
        self.writes, self.rows = [], []

    def _events_arg(self) -> str:
        return json.dumps([{**row, "n": n} for n, row in enumerate(self.rows)], default=_iso)


async def sequence(engine: AsyncEngine, *, wait: bool = False, limit: int = 5000) -> int:
    """Give committed, queued events their positions; returns how many (-1: another sequencer is busy).

    ``wait`` blocks until the running sequencer (if any) is done, so that every
    event committed before the call is placed when it returns.
    """
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        result = await autocommit.execute(text("SELECT sequence_events(:wait, :limit)"),
                                          {"wait": wait, "limit": limit})
        return int(result.scalar())


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
