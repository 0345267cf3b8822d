"""The webhook outbox in PostgreSQL: claim a due delivery, record its attempt (service_layer/delivery.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..domain.model import utcnow
from ..service_layer.delivery import GONE, AttemptResult, Decision
from ..service_layer.events import StoredEvent
from .event_log import stored_event
from .event_tables import event_positions, event_queue, events, webhook_attempts, webhook_deliveries, webhook_endpoints


@dataclasses.dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: str
    attempts: int
    created_at: datetime
    url: str
    secrets: list[str]
    event: StoredEvent


# Due, endpoint enabled, and no earlier pending delivery of the same payment to the same endpoint.
_CLAIM = text("""
SELECT d.delivery_id, d.endpoint_id, d.attempts, d.created_at, d.event_id
FROM webhook_deliveries d JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id
WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND w.enabled
  AND NOT EXISTS (
    SELECT 1 FROM webhook_deliveries p
    WHERE p.endpoint_id = d.endpoint_id AND p.payment_id = d.payment_id AND p.state = 'pending'
      AND (p.event_position, p.delivery_id) < (d.event_position, d.delivery_id))
ORDER BY d.next_attempt_at, d.event_position
LIMIT 1
FOR UPDATE OF d SKIP LOCKED
""")


async def claim(connection: AsyncConnection, now: datetime) -> Claimed | None:
    """Lock one due delivery in the connection's transaction (None when nothing is due)."""
    row = (await connection.execute(_CLAIM)).first()
    if row is None:
        return None
    endpoint = (await connection.execute(
        select(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == row.endpoint_id))).one()
    event = (await connection.execute(
        select(event_positions.c.position, *[c for c in events.c if c.name != "id"])
        .select_from(event_positions.join(events, events.c.event_id == event_positions.c.event_id))
        .where(events.c.event_id == row.event_id))).one()
    keep_previous = endpoint.previous_secret and endpoint.previous_secret_expires_at and \
        now < endpoint.previous_secret_expires_at
    secrets = [endpoint.secret, endpoint.previous_secret] if keep_previous else [endpoint.secret]
    return Claimed(row.delivery_id, row.endpoint_id, row.attempts, row.created_at, endpoint.url, secrets,
                   stored_event(event))


async def record(connection: AsyncConnection, claimed: Claimed, result: AttemptResult, decision: Decision,
                 attempted_at: datetime) -> None:
    await connection.execute(webhook_attempts.insert().values(
        delivery_id=claimed.delivery_id, endpoint_id=claimed.endpoint_id, event_id=claimed.event.event_id,
        attempted_at=attempted_at, status_code=result.status_code, latency_ms=result.latency_ms,
        outcome=decision.outcome, error=result.error[:500]))
    values: dict[str, Any] = {"attempts": webhook_deliveries.c.attempts + 1}
    if decision.finished:
        values.update(state="delivered" if decision.outcome == "delivered" else "failed", finished_at=utcnow())
    else:
        values.update(next_attempt_at=decision.next_attempt_at)
    await connection.execute(update(webhook_deliveries)
                             .where(webhook_deliveries.c.delivery_id == claimed.delivery_id).values(**values))
    if decision.outcome == GONE:
        await connection.execute(update(webhook_endpoints)
                                 .where(webhook_endpoints.c.endpoint_id == claimed.endpoint_id)
                                 .values(enabled=False, updated_at=utcnow(),
                                         disabled_reason=f"410 Gone at {attempted_at.isoformat(timespec='seconds')}"))


async def oldest_undelivered_age(engine: AsyncEngine, now: datetime) -> float:
    """Seconds since the oldest event not yet delivered (pending to an enabled endpoint, or not sequenced)."""
    async with engine.connect() as connection:
        pending = (await connection.execute(
            select(func.min(events.c.created_at))
            .select_from(webhook_deliveries.join(events, events.c.event_id == webhook_deliveries.c.event_id)
                         .join(webhook_endpoints, webhook_endpoints.c.endpoint_id == webhook_deliveries.c.endpoint_id))
            .where(webhook_deliveries.c.state == "pending", webhook_endpoints.c.enabled.is_(True)))).scalar()
        queued = (await connection.execute(
            select(func.min(events.c.created_at)).select_from(event_queue.join(events, events.c.id == event_queue.c.id))
        )).scalar()
    oldest = min((t for t in (pending, queued) if t is not None), default=None)
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


async def prune(engine: AsyncEngine, older_than: datetime) -> dict[str, int]:
    """Delete events older than the retention whose deliveries are all finished, and their rows."""
    async with engine.begin() as connection:
        old = select(events.c.event_id).where(events.c.created_at < older_than, ~select(webhook_deliveries.c.event_id)
                                              .where(webhook_deliveries.c.event_id == events.c.event_id,
                                                     webhook_deliveries.c.state == "pending").exists(),
                                              ~select(event_queue.c.id).where(event_queue.c.id == events.c.id).exists())
        ids = [row.event_id for row in (await connection.execute(old)).all()]
        counts = {"events": 0, "deliveries": 0, "attempts": 0}
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            counts["attempts"] += (await connection.execute(
                webhook_attempts.delete().where(webhook_attempts.c.event_id.in_(chunk)))).rowcount
            counts["deliveries"] += (await connection.execute(
                webhook_deliveries.delete().where(webhook_deliveries.c.event_id.in_(chunk)))).rowcount
            await connection.execute(event_positions.delete().where(event_positions.c.event_id.in_(chunk)))
            counts["events"] += (await connection.execute(events.delete().where(events.c.event_id.in_(chunk)))).rowcount
    return counts
