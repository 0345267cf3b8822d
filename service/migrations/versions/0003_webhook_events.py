"""Processor webhook events, recorded once each in the transaction of their effect.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("processor", sa.String(64), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Lookups by the processor's own payment id (Stripe's pi_...).
    op.create_index("payments_processor_reference", "payments", ["processor", "processor_reference"])


def downgrade() -> None:
    op.drop_index("payments_processor_reference", "payments")
    op.drop_table("webhook_events")
