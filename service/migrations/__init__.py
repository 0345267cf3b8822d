"""Alembic migrations for the payment database (`payment-service migrate`)."""
