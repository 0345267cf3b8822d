"""The event log (append-only) and the webhook endpoints, outbox and attempts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False, unique=True),
        sa.Column("merchant_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("refund_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("dispute_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("payment_id", "sequence", name="events_payment_sequence"),
    )
    op.create_index("events_merchant_created", "events", ["merchant_id", "created_at"])
    op.create_index("events_created_at", "events", ["created_at"])
    op.create_table(
        "event_queue",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
    )
    op.create_table(
        "event_positions",
        sa.Column("position", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False, unique=True),
        sa.Column("merchant_id", sa.String(255), nullable=False),
    )
    op.create_index("event_positions_merchant", "event_positions", ["merchant_id", "position"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("endpoint_id", sa.String(40), primary_key=True),
        sa.Column("merchant_id", sa.String(255), nullable=False, index=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled_event_types", JSONB, nullable=False, server_default="[]"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("disabled_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text, nullable=False, server_default=""),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("event_position", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_index("webhook_deliveries_order", "webhook_deliveries", ["endpoint_id", "payment_id", "event_position"],
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_index("webhook_deliveries_event", "webhook_deliveries", ["event_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("attempt_id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("delivery_id", sa.BigInteger, nullable=False),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("webhook_attempts_endpoint", "webhook_attempts", ["endpoint_id", "attempt_id"])


    op.execute(SEQUENCE_EVENTS)


# The sequencer: one at a time (a transaction-level advisory lock), it takes
# the oldest queued events that are committed, gives them positions in the
# order they were inserted, and queues their webhook deliveries. Returns how
# many it placed, or -1 when another sequencer holds the lock (p_wait false).
SEQUENCE_EVENTS = """
CREATE FUNCTION sequence_events(p_wait boolean, p_limit integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  placed_count integer;
BEGIN
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('payment:event-sequencer', 0));
  ELSIF NOT pg_try_advisory_xact_lock(hashtextextended('payment:event-sequencer', 0)) THEN
    RETURN -1;
  END IF;
  WITH taken AS (
    DELETE FROM event_queue WHERE id IN (SELECT id FROM event_queue ORDER BY id LIMIT p_limit)
    RETURNING id, event_id
  ), ordered AS (
    SELECT e.id, e.event_id, e.merchant_id, e.type, e.payment_id FROM events e JOIN taken t ON t.id = e.id
  ), placed AS (
    INSERT INTO event_positions (event_id, merchant_id)
    SELECT event_id, merchant_id FROM ordered ORDER BY id
    RETURNING position, event_id
  ), fanned AS (
    INSERT INTO webhook_deliveries (endpoint_id, event_position, event_id, payment_id, next_attempt_at, created_at)
    SELECT w.endpoint_id, p.position, o.event_id, o.payment_id, now(), now()
    FROM placed p JOIN ordered o ON o.event_id = p.event_id
    JOIN webhook_endpoints w ON w.merchant_id = o.merchant_id AND w.enabled
     AND (jsonb_array_length(w.enabled_event_types) = 0 OR w.enabled_event_types ? o.type)
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM placed) + 0 * (SELECT count(*) FROM fanned) INTO placed_count;
  RETURN placed_count;
END
$$
"""


def downgrade() -> None:
    op.execute("DROP FUNCTION sequence_events(boolean, integer)")
    op.drop_table("event_positions")
    op.drop_table("event_queue")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("events")
