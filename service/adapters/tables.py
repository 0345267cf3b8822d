"""PostgreSQL schema as SQLAlchemy Core tables: the one ``metadata`` of this database.

Alembic migrations (service/migrations) create these; the tables here are
what the repository and the in-house processor's ledger query. Money columns
are BIGINT minor units with CHECK constraints, so even a bug in the service
cannot store an over-refund.

    payments, refunds, idempotency_keys, webhook_events   the payment service (repository.py)
    inhouse_*                                             the in-house processor's ledger
                                                          (processors/inhouse/postgres_ledger.py)
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("merchant_id", String(255), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("capture_method", String(16), nullable=False),
    Column("processor", String(64), nullable=False),
    Column("payment_method", String(255), nullable=False, server_default=""),
    Column("customer_id", String(255), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("metadata", JSONB, nullable=False, server_default="{}"),
    Column("processor_reference", String(255), nullable=False, server_default=""),
    Column("amount_captured", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("amount_disputed", BigInteger, nullable=False, server_default="0"),
    Column("review_reason", Text, nullable=False, server_default=""),
    Column("failure_code", String(64), nullable=False, server_default=""),
    Column("failure_message", Text, nullable=False, server_default=""),
    Column("pending_action", String(16)),
    Column("pending_amount", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("amount_captured >= 0 AND amount_captured <= amount", name="captured_within_amount"),
    CheckConstraint(
        "amount_refunded >= 0 AND amount_refunded <= amount_captured", name="refunded_within_captured"
    ),
    CheckConstraint(
        "amount_disputed >= 0 AND amount_disputed <= amount_captured", name="disputed_within_captured"
    ),
)

refunds = Table(
    "refunds",
    metadata,
    Column("refund_id", String(40), primary_key=True),
    Column("payment_id", String(40), ForeignKey("payments.payment_id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("processor_reference", String(255), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("failure_reason", Text, nullable=False, server_default=""),
    CheckConstraint("amount > 0", name="refund_amount_positive"),
)

disputes = Table(
    "disputes",
    metadata,
    Column("dispute_id", String(40), primary_key=True),
    Column("payment_id", String(40), ForeignKey("payments.payment_id"), nullable=False, index=True),
    Column("processor_reference", String(255), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("status", String(32), nullable=False),
    Column("evidence_due_by", DateTime(timezone=True)),
    Column("funds_withdrawn", Boolean, nullable=False, server_default="false"),
    Column("funds_reinstated", Boolean, nullable=False, server_default="false"),
    Column("evidence_submitted", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount > 0", name="dispute_amount_positive"),
    UniqueConstraint("payment_id", "processor_reference", name="disputes_payment_reference"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("merchant_id", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # started | completed
    Column("payment_id", String(40), nullable=False),
    Column("refund_id", String(40), nullable=False, server_default=""),
    Column("response", JSONB),
    Column("locked_until", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("merchant_id", "key", name="idempotency_keys_pkey"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("processor", String(64), nullable=False),
    Column("type", String(128), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("payment_id", String(40), nullable=False, server_default=""),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


# ---- the in-house processor's ledger (migration 0002) ------------------------------------------
# These belong to the simulated processor, not to the payment service: the service never reads
# them (it asks the processor). They live in the same database so that every server process, and a
# reconciler started later, sees one processor.

inhouse_payments = Table(
    "inhouse_payments",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("merchant_id", String(255), nullable=False),
    Column("payment_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_captured", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("failure_code", String(64), nullable=False, server_default=""),
    Column("failure_message", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount > 0", name="inhouse_amount_positive"),
    CheckConstraint(
        "amount_captured >= 0 AND amount_captured <= amount", name="inhouse_captured_within_amount"
    ),
    CheckConstraint(
        "amount_refunded >= 0 AND amount_refunded <= amount_captured", name="inhouse_refunded_within_captured"
    ),
)

inhouse_refunds = Table(
    "inhouse_refunds",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column(
        "payment_reference", String(64), ForeignKey("inhouse_payments.reference"), nullable=False, index=True
    ),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("status", String(16), nullable=False, server_default="SUCCEEDED"),
    Column("refund_id", String(255), nullable=False, server_default=""),
    Column("failure_reason", String(64), nullable=False, server_default=""),
    Column("announced", String(16), nullable=False, server_default=""),  # the status last sent as a webhook
    CheckConstraint("amount > 0", name="inhouse_refund_amount_positive"),
)

inhouse_idempotency_keys = Table(
    "inhouse_idempotency_keys",
    metadata,
    # 255 = records.MAX_IDEMPOTENCY_KEY_LENGTH (a unit test keeps them equal).
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("result", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("inhouse_idempotency_keys_created_at", "created_at"),
)


# What happens later (processors/inhouse/simulator.py): disputes, and the webhooks announcing every change.
inhouse_disputes = Table(
    "inhouse_disputes",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("payment_reference", String(64), ForeignKey("inhouse_payments.reference"), nullable=False,
           unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("evidence", JSONB, nullable=False, server_default="{}"),
    Column("evidence_submitted", Boolean, nullable=False, server_default="false"),
    Column("evidence_due_by", DateTime(timezone=True), nullable=False),
    Column("funds_withdrawn", Boolean, nullable=False, server_default="false"),
    Column("funds_reinstated", Boolean, nullable=False, server_default="false"),
    Column("announced", String(64), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount > 0", name="inhouse_dispute_amount_positive"),
)

inhouse_webhook_outbox = Table(
    "inhouse_webhook_outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes that are signed and sent
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Index("inhouse_webhook_outbox_undelivered", "id", postgresql_where=text("delivered_at IS NULL")),
)

# API keys managed by `payment-service keys` (api_key_store.py); the secret is only ever a SHA-256.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(255), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("replaced_by", String(40), ForeignKey("api_keys.id")),
    Column("description", Text, nullable=False, server_default=""),
    CheckConstraint("id LIKE 'key\\_%'", name="api_key_id_prefix"),
)
