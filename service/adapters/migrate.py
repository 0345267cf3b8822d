"""Apply the Alembic migrations (the seed's init-db.sql, done properly)."""

from __future__ import annotations

import logging
import pathlib

# Alembic announces each of its plugins at import time; keep the log to what matters.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

MIGRATIONS = pathlib.Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``; safe to run repeatedly and concurrently."""
    command.upgrade(alembic_config(database_url), revision)

