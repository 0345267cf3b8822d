"""The event log in PostgreSQL: appended with each change, read by the events API.

``EventJournal`` is the write side, owned by one unit of work. The payment
repository hands it every payment it writes (``collect``); it turns the
payment's recorded domain events into rows (id, sequence, snapshot, actor,
request id, time) and ``flush`` writes them just before COMMIT:

1. ``pg_advisory_xact_lock`` on the merchant (held until the transaction ends);
2. INSERT the event rows (``position`` comes from the identity sequence, so
   it is drawn while the lock is held);
3. INSERT one webhook delivery per subscribed endpoint (the outbox);
4. COMMIT (by the unit of work), which releases the lock.

Two transactions of one merchant therefore draw positions in the order they
commit, and nothing but these inserts runs under the lock, so it is held for
a few milliseconds and cannot take part in a deadlock. A reader that sees a
position has seen every lower position of that merchant (docs/events.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import and_, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.ids import new_event_id
from ..domain.model import Payment, utcnow
from ..domain.snapshot import to_snapshot
from ..logs import request_id_var
from ..service_layer.audit import current_actor
from ..service_layer.events import EventFilter, StoredEvent
from .event_tables import events, webhook_deliveries, webhook_endpoints


def stored_event(row: Any) -> StoredEvent:
    return StoredEvent(**{field.name: getattr(row, field.name) for field in dataclasses.fields(StoredEvent)})


class SqlEventReader:
    """The read side (service.service_layer.events.EventReader)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        row = (await self.connection.execute(
            select(events).where(events.c.merchant_id == merchant_id, events.c.event_id == event_id))).first()
        return stored_event(row) if row else None

    async def page(self, merchant_id: str, filters: EventFilter, below: int | None, limit: int) -> list[StoredEvent]:
        query = select(events).where(events.c.merchant_id == merchant_id)
        if filters.payment_id:
            query = query.where(events.c.payment_id == filters.payment_id)
        if filters.type:
            query = query.where(events.c.type == filters.type)
        if filters.created_after:
            query = query.where(events.c.created_at >= filters.created_after)
        if filters.created_before:
            query = query.where(events.c.created_at < filters.created_before)
        if below is not None:
            query = query.where(events.c.position < below)
        rows = (await self.connection.execute(query.order_by(events.c.position.desc()).limit(limit))).all()
        return [stored_event(row) for row in rows]

    async def after(self, merchant_id: str, position: int, limit: int) -> list[StoredEvent]:
        query = (select(events).where(events.c.merchant_id == merchant_id, events.c.position > position)
                 .order_by(events.c.position).limit(limit))
        return [stored_event(row) for row in (await self.connection.execute(query)).all()]

    async def last_position(self, merchant_id: str) -> int:
        found = (await self.connection.execute(
            select(func.max(events.c.position)).where(events.c.merchant_id == merchant_id))).scalar()
        return found or 0


class EventJournal:
    """Events staged by one transaction, written by ``flush`` just before commit."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.rows: list[dict[str, Any]] = []

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

    async def flush(self) -> None:
        if not self.rows:
            return
        for merchant_id in sorted({row["merchant_id"] for row in self.rows}):
            await self.connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                                          {"k": f"events:{merchant_id}"})
        for row in self.rows:  # one by one: positions follow the order of the changes
            await self.connection.execute(events.insert().values(**row))
        await self._enqueue_deliveries([row["event_id"] for row in self.rows])
        self.rows = []

    async def _enqueue_deliveries(self, event_ids: list[str]) -> None:
        subscribed = and_(
            webhook_endpoints.c.merchant_id == events.c.merchant_id,
            webhook_endpoints.c.enabled.is_(True),
            (func.jsonb_array_length(webhook_endpoints.c.enabled_event_types) == 0)
            | webhook_endpoints.c.enabled_event_types.op("?")(events.c.type),
        )
        now = utcnow()
        chosen = (
            select(webhook_endpoints.c.endpoint_id, events.c.position, events.c.event_id, events.c.payment_id,
                   literal(now).label("next_attempt_at"), literal(now).label("created_at"))
            .select_from(events.join(webhook_endpoints, subscribed))
            .where(events.c.event_id.in_(event_ids))
            .order_by(events.c.position)
        )
        await self.connection.execute(
            webhook_deliveries.insert().from_select(
                ["endpoint_id", "event_position", "event_id", "payment_id", "next_attempt_at", "created_at"],
                chosen,
            )
        )
