"""Payments, refunds and idempotency keys.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(40), primary_key=True),
        sa.Column("merchant_id", sa.String(255), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("capture_method", sa.String(16), nullable=False),
        sa.Column("processor", sa.String(64), nullable=False),
        sa.Column("payment_method", sa.String(255), nullable=False, server_default=""),
        sa.Column("customer_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("processor_reference", sa.String(255), nullable=False, server_default=""),
        sa.Column("amount_captured", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("amount_refunded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failure_code", sa.String(64), nullable=False, server_default=""),
        sa.Column("failure_message", sa.Text, nullable=False, server_default=""),
        sa.Column("pending_action", sa.String(16)),
        sa.Column("pending_amount", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("amount_captured >= 0 AND amount_captured <= amount", name="captured_within_amount"),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_captured", name="refunded_within_captured"
        ),
    )
    # Keyset pagination: newest first per merchant, with optional filters.
    op.create_index("payments_merchant_created", "payments", ["merchant_id", sa.text("created_at DESC"),
                                                              sa.text("payment_id DESC")])
    op.create_index("payments_merchant_customer", "payments", ["merchant_id", "customer_id",
                                                               sa.text("created_at DESC")])
    # Reconciliation scans only the few payments waiting on a processor.
    op.create_index("payments_processing", "payments", ["updated_at"],
                    postgresql_where=sa.text("status = 'PROCESSING'"))
    op.create_table(
        "refunds",
        sa.Column("refund_id", sa.String(40), primary_key=True),
        sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.payment_id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("processor_reference", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="refund_amount_positive"),
    )
    op.create_index("refunds_payment_id", "refunds", ["payment_id"])
    op.create_index("refunds_pending", "refunds", ["created_at"], postgresql_where=sa.text("status = 'PENDING'"))
    op.create_table(
        "idempotency_keys",
        sa.Column("merchant_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("refund_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("response", JSONB),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "key", name="idempotency_keys_pkey"),
    )
    op.create_index("idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("refunds")
    op.drop_table("payments")
