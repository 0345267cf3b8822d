"""Refunds that fail later, disputes, and payments marked for a person; the in-house
processor's refund states, disputes and webhook outbox.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("refunds", sa.Column("failure_reason", sa.Text, nullable=False, server_default=""))
    op.add_column("payments", sa.Column("amount_disputed", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("payments", sa.Column("review_reason", sa.Text, nullable=False, server_default=""))
    op.create_check_constraint(
        "disputed_within_captured", "payments", "amount_disputed >= 0 AND amount_disputed <= amount_captured"
    )
    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.String(40), primary_key=True),
        sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.payment_id"), nullable=False, index=True),
        sa.Column("processor_reference", sa.String(255), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True)),
        sa.Column("funds_withdrawn", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("funds_reinstated", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("evidence_submitted", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="dispute_amount_positive"),
        sa.UniqueConstraint("payment_id", "processor_reference", name="disputes_payment_reference"),
    )
    op.add_column("inhouse_refunds", sa.Column("status", sa.String(16), nullable=False, server_default="SUCCEEDED"))
    op.add_column("inhouse_refunds", sa.Column("refund_id", sa.String(255), nullable=False, server_default=""))
    op.add_column("inhouse_refunds", sa.Column("failure_reason", sa.String(64), nullable=False, server_default=""))
    # existing refunds were all answered as they happened: nothing to announce
    op.add_column("inhouse_refunds", sa.Column("announced", sa.String(16), nullable=False, server_default=""))
    op.execute("UPDATE inhouse_refunds SET announced = status")
    op.create_table(
        "inhouse_disputes",
        sa.Column("reference", sa.String(64), primary_key=True),
        sa.Column("payment_reference", sa.String(64), sa.ForeignKey("inhouse_payments.reference"), nullable=False,
                  unique=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("evidence", JSONB, nullable=False, server_default="{}"),
        sa.Column("evidence_submitted", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("funds_withdrawn", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("funds_reinstated", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("announced", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("amount > 0", name="inhouse_dispute_amount_positive"),
    )
    op.create_table(
        "inhouse_webhook_outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("inhouse_webhook_outbox_undelivered", "inhouse_webhook_outbox", ["id"],
                    postgresql_where=sa.text("delivered_at IS NULL"))
    # The reconcile --report listing and the review gauge read only flagged payments.
    op.create_index("payments_review", "payments", ["review_reason"], postgresql_where=sa.text("review_reason <> ''"))


def downgrade() -> None:
    op.drop_table("inhouse_webhook_outbox")
    op.drop_table("inhouse_disputes")
    for column in ("announced", "failure_reason", "refund_id", "status"):
        op.drop_column("inhouse_refunds", column)
    op.drop_index("payments_review", "payments")
    op.drop_table("disputes")
    op.drop_constraint("disputed_within_captured", "payments", type_="check")
    op.drop_column("payments", "review_reason")
    op.drop_column("payments", "amount_disputed")
    op.drop_column("refunds", "failure_reason")
