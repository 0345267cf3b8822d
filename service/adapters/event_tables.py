"""The event log and webhook delivery tables (migration 0004_events).

``events`` is append-only: the service inserts rows and never updates them;
only the retention command (``payment-service prune-events``) deletes old
ones. The transaction of a change inserts its events and, as a transactional
outbox, one ``event_queue`` row each. The sequencer (``sequence_events()``,
migration 0004; one at a time) moves queued events into ``event_positions``
in the order it sees them committed, and fans each out to one
``webhook_deliveries`` row per subscribed endpoint. Readers follow
``position``; docs/events.md states the guarantee. The worker claims
deliveries with SELECT ... FOR UPDATE SKIP LOCKED and records every HTTP
attempt in ``webhook_attempts``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from .tables import metadata

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),  # insertion order
    Column("event_id", String(40), nullable=False, unique=True),
    Column("merchant_id", String(255), nullable=False),
    Column("type", String(64), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("refund_id", String(40), nullable=False, server_default=""),
    Column("dispute_id", String(40), nullable=False, server_default=""),
    Column("sequence", Integer, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("request_id", String(255), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("payment_id", "sequence", name="events_payment_sequence"),
    Index("events_merchant_created", "merchant_id", "created_at"),
    Index("events_created_at", "created_at"),
)

event_queue = Table(
    "event_queue",
    metadata,
    Column("id", BigInteger, primary_key=True),  # events.id
    Column("event_id", String(40), nullable=False),
)

event_positions = Table(
    "event_positions",
    metadata,
    Column("position", BigInteger, Identity(always=False), primary_key=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("merchant_id", String(255), nullable=False),
    Index("event_positions_merchant", "merchant_id", "position"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("merchant_id", String(255), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("enabled_event_types", JSONB, nullable=False, server_default="[]"),  # [] = every type
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text, nullable=False, server_default=""),
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text, nullable=False, server_default=""),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", BigInteger, Identity(always=False), primary_key=True),
    Column("endpoint_id", String(40), nullable=False),
    Column("event_position", BigInteger, nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Index("webhook_deliveries_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    Index("webhook_deliveries_order", "endpoint_id", "payment_id", "event_position",
          postgresql_where=text("state = 'pending'")),
    Index("webhook_deliveries_event", "event_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("attempt_id", BigInteger, Identity(always=False), primary_key=True),
    Column("delivery_id", BigInteger, nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=False, server_default="0"),  # 0: no HTTP answer
    Column("latency_ms", Float, nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | retry | failed | gone
    Column("error", Text, nullable=False, server_default=""),
    Index("webhook_attempts_endpoint", "endpoint_id", "attempt_id"),
)
