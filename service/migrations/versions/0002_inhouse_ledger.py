"""The in-house processor's ledger: its payments, refunds and idempotency keys.

These tables belong to the simulated processor, not to the payment service:
the service never reads them (it asks the processor). They live in the same
database so that every server process, and a reconciler started later, sees
one processor.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inhouse_payments",
        sa.Column("reference", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(255), nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("payment_method", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_captured", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("amount_refunded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failure_code", sa.String(64), nullable=False, server_default=""),
        sa.Column("failure_message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount > 0", name="inhouse_amount_positive"),
        sa.CheckConstraint(
            "amount_captured >= 0 AND amount_captured <= amount", name="inhouse_captured_within_amount"
        ),
        sa.CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount_captured",
            name="inhouse_refunded_within_captured",
        ),
    )
    op.create_table(
        "inhouse_refunds",
        sa.Column("reference", sa.String(64), primary_key=True),
        sa.Column(
            "payment_reference",
            sa.String(64),
            sa.ForeignKey("inhouse_payments.reference"),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount > 0", name="inhouse_refund_amount_positive"),
    )
    op.create_index("ix_inhouse_refunds_payment_reference", "inhouse_refunds", ["payment_reference"])
    op.create_table(
        "inhouse_idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("inhouse_idempotency_keys_created_at", "inhouse_idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("inhouse_idempotency_keys")
    op.drop_table("inhouse_refunds")
    op.drop_table("inhouse_payments")
