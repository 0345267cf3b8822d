"""Refunds that fail later, disputes, and payments marked for a person.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

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
    # The reconcile --report listing and the review gauge read only flagged payments.
    op.create_index("payments_review", "payments", ["review_reason"], postgresql_where=sa.text("review_reason <> ''"))


def downgrade() -> None:
    op.drop_index("payments_review", "payments")
    op.drop_table("disputes")
    op.drop_constraint("disputed_within_captured", "payments", type_="check")
    op.drop_column("payments", "review_reason")
    op.drop_column("payments", "amount_disputed")
    op.drop_column("refunds", "failure_reason")
