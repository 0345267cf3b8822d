"""PostgreSQL side of webhook endpoints, deliveries and attempts (tables in event_tables.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import utcnow
from ..service_layer.webhook_endpoints import Attempt, Endpoint
from .event_tables import event_positions, webhook_attempts, webhook_deliveries, webhook_endpoints


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        endpoint_id=row.endpoint_id, merchant_id=row.merchant_id, url=row.url, description=row.description,
        enabled_event_types=list(row.enabled_event_types or []), enabled=row.enabled,
        disabled_reason=row.disabled_reason, secret=row.secret, previous_secret=row.previous_secret,
        previous_secret_expires_at=row.previous_secret_expires_at, created_at=row.created_at,
        updated_at=row.updated_at)


class SqlWebhookEndpoints:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, endpoint: Endpoint) -> None:
        await self.connection.execute(webhook_endpoints.insert().values(
            endpoint_id=endpoint.endpoint_id, merchant_id=endpoint.merchant_id, url=endpoint.url,
            description=endpoint.description, enabled_event_types=endpoint.enabled_event_types,
            enabled=endpoint.enabled, disabled_reason=endpoint.disabled_reason, secret=endpoint.secret,
            previous_secret=endpoint.previous_secret,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            created_at=endpoint.created_at, updated_at=endpoint.updated_at))

    async def count(self, merchant_id: str) -> int:
        return (await self.connection.execute(
            select(func.count()).where(webhook_endpoints.c.merchant_id == merchant_id))).scalar()

    async def get(self, merchant_id: str, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.merchant_id == merchant_id,
                                                webhook_endpoints.c.endpoint_id == endpoint_id)
        row = (await self.connection.execute(query.with_for_update() if for_update else query)).first()
        return _endpoint(row) if row else None

    async def list(self, merchant_id: str) -> list[Endpoint]:
        rows = (await self.connection.execute(
            select(webhook_endpoints).where(webhook_endpoints.c.merchant_id == merchant_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.endpoint_id))).all()
        return [_endpoint(row) for row in rows]

    async def save(self, endpoint: Endpoint) -> None:
        await self.connection.execute(
            update(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint.endpoint_id).values(
                url=endpoint.url, description=endpoint.description,
                enabled_event_types=endpoint.enabled_event_types, enabled=endpoint.enabled,
                disabled_reason=endpoint.disabled_reason, secret=endpoint.secret,
                previous_secret=endpoint.previous_secret,
                previous_secret_expires_at=endpoint.previous_secret_expires_at, updated_at=utcnow()))

    async def remove(self, endpoint_id: str) -> None:
        await self.connection.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id,
                                             webhook_deliveries.c.state == "pending")
            .values(state="canceled", finished_at=utcnow()))
        await self.connection.execute(delete(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint_id))

    async def attempts(self, endpoint_id: str, event_id: str, below: int | None, limit: int) -> list[Attempt]:
        query = select(webhook_attempts).where(webhook_attempts.c.endpoint_id == endpoint_id)
        if event_id:
            query = query.where(webhook_attempts.c.event_id == event_id)
        if below is not None:
            query = query.where(webhook_attempts.c.attempt_id < below)
        rows = (await self.connection.execute(query.order_by(webhook_attempts.c.attempt_id.desc()).limit(limit))).all()
        return [Attempt(row.attempt_id, row.event_id, row.attempted_at, row.status_code, row.latency_ms, row.outcome,
                        row.error) for row in rows]

    async def enqueue(self, endpoint_id: str, event_id: str, payment_id: str) -> bool:
        """One more delivery of an already sequenced event; False if it has no position yet."""
        position = (await self.connection.execute(
            select(event_positions.c.position).where(event_positions.c.event_id == event_id))).scalar()
        if position is None:
            return False
        now: datetime = utcnow()
        await self.connection.execute(webhook_deliveries.insert().values(
            endpoint_id=endpoint_id, event_position=position, event_id=event_id, payment_id=payment_id,
            next_attempt_at=now, created_at=now))
        return True
