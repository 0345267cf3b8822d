"""The payment domain: pure Python, no SQLAlchemy, gRPC or Stripe imports."""
