"""Adapters: the outside world (PostgreSQL, Redis, processors) behind the service's ports."""
