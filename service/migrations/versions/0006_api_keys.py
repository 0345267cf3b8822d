"""API keys managed in the database (`payment-service keys`): hashed, never in plaintext.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("merchant_id", sa.String(255), nullable=False, index=True),
        # SHA-256 (hex) of the key, a 256-bit random secret (service/service_layer/api_keys.py says why)
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # written by the servers at most once per refresh interval, not per request
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        # rotation: the key that replaced this one (this one then expires after the overlap)
        sa.Column("replaced_by", sa.String(40), sa.ForeignKey("api_keys.id")),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("id LIKE 'key\\_%'", name="api_key_id_prefix"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
