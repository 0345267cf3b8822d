"""The api_keys table: what `payment-service keys` writes, and how every server keeps up with it.

Every write ends with ``pg_notify('api_keys_changed', <key id>)`` in its own
transaction, so the notification goes out only if the change committed. Each
server process runs a `KeyRefresher`: a LISTEN connection whose notifications
wake it, plus a reload every API_KEYS_REFRESH_SECONDS in case a notification
is lost (the listening connection dropped, or a row was changed by hand). A
reload reads the whole table of valid keys (a few rows per merchant) and swaps
the server's `KeyRing` in one assignment; requests never wait for it.

The refresher also writes ``last_used_at`` for the keys the ring saw since its
previous pass: one UPDATE per interval, never a write per request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..observability import metrics
from ..service_layer.api_keys import KeyEntry, KeyRing, digest, new_key
from .tables import api_keys

log = logging.getLogger(__name__)

CHANNEL = "api_keys_changed"


class ApiKeyNotFound(LookupError):
    """No stored key has this id."""


@dataclasses.dataclass(frozen=True)
class StoredKey:
    """A row of api_keys as `keys list` shows it (the secret's digest is not part of it)."""

    key_id: str
    merchant_id: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None
    description: str

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "rotating" if self.replaced_by else "active"


_COLUMNS = (api_keys.c.id, api_keys.c.merchant_id, api_keys.c.created_at, api_keys.c.last_used_at,
            api_keys.c.expires_at, api_keys.c.revoked_at, api_keys.c.replaced_by, api_keys.c.description)


async def _notify(connection: AsyncConnection, key_id: str) -> None:
    await connection.execute(text("SELECT pg_notify(:channel, :key_id)"), {"channel": CHANNEL, "key_id": key_id})


class ApiKeyStore:
    """create / list / revoke / rotate, each one transaction that notifies the servers."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _insert(self, connection: AsyncConnection, merchant_id: str, expires_at: datetime | None,
                      description: str) -> tuple[str, str]:
        key_id, secret = new_key()
        await connection.execute(api_keys.insert().values(
            id=key_id, merchant_id=merchant_id, secret_sha256=digest(secret), expires_at=expires_at,
            description=description))
        await _notify(connection, key_id)
        return key_id, secret

    async def create(self, merchant_id: str, *, expires_at: datetime | None = None,
                     description: str = "") -> tuple[StoredKey, str]:
        """The new key's row and its secret (shown once: only its digest is stored)."""
        async with self.engine.begin() as connection:
            key_id, secret = await self._insert(connection, merchant_id, expires_at, description)
        return await self.get(key_id), secret

    async def get(self, key_id: str) -> StoredKey:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(*_COLUMNS).where(api_keys.c.id == key_id))).first()
        if row is None:
            raise ApiKeyNotFound(key_id)
        return StoredKey(*row)

    async def list(self, merchant_id: str | None = None) -> list[StoredKey]:
        query = select(*_COLUMNS).order_by(api_keys.c.merchant_id, api_keys.c.created_at)
        if merchant_id:
            query = query.where(api_keys.c.merchant_id == merchant_id)
        async with self.engine.connect() as connection:
            return [StoredKey(*row) for row in await connection.execute(query)]

    async def revoke(self, key_id: str) -> StoredKey:
        """Revoked at once (an already revoked key keeps its first revocation time)."""
        async with self.engine.begin() as connection:
            done = await connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(
                revoked_at=func.coalesce(api_keys.c.revoked_at, func.now())))
            if done.rowcount == 0:
                raise ApiKeyNotFound(key_id)
            await _notify(connection, key_id)
        return await self.get(key_id)

    async def rotate(self, key_id: str, overlap: timedelta) -> tuple[StoredKey, str, StoredKey]:
        """A new key for the same merchant; the old one stays valid for ``overlap`` (never longer than it
        already would). Returns (new key, its secret, old key)."""
        async with self.engine.begin() as connection:
            old = (await connection.execute(
                select(api_keys.c.merchant_id, api_keys.c.revoked_at, api_keys.c.replaced_by,
                       api_keys.c.description).where(api_keys.c.id == key_id).with_for_update())).first()
            if old is None:
                raise ApiKeyNotFound(key_id)
            if old.revoked_at is not None or old.replaced_by is not None:
                raise ValueError(f"{key_id} is {'revoked' if old.revoked_at else 'already rotated'}: "
                                 "create a new key instead")
            new_id, secret = await self._insert(connection, old.merchant_id, None, old.description)
            ends = func.now() + timedelta(seconds=max(overlap.total_seconds(), 0))
            await connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(
                replaced_by=new_id, expires_at=func.least(func.coalesce(api_keys.c.expires_at, ends), ends)))
        return await self.get(new_id), secret, await self.get(key_id)

    async def valid(self) -> list[tuple[str, KeyEntry]]:
        """(digest, entry) of every key that is neither revoked nor expired."""
        query = select(api_keys.c.secret_sha256, api_keys.c.id, api_keys.c.merchant_id, api_keys.c.expires_at).where(
            api_keys.c.revoked_at.is_(None),
            (api_keys.c.expires_at.is_(None)) | (api_keys.c.expires_at > func.now()))
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [(row.secret_sha256, KeyEntry(row.id, row.merchant_id,
                                             row.expires_at.timestamp() if row.expires_at else None))
                for row in rows]

    async def touch(self, key_ids: set[str]) -> None:
        """last_used_at = now() for these keys (one statement)."""
        if not key_ids:
            return
        async with self.engine.begin() as connection:
            await connection.execute(update(api_keys).where(api_keys.c.id.in_(sorted(key_ids)))
                                     .values(last_used_at=func.now()))


def _dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class KeyRefresher:
    """Keeps one process's KeyRing in step with the table: on NOTIFY, and every ``interval`` seconds."""

    def __init__(self, store: ApiKeyStore, ring: KeyRing, interval: float) -> None:
        self.store, self.ring, self.interval = store, ring, interval
        self._changed = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def refresh(self) -> None:
        used = self.ring.take_used()
        try:
            await self.store.touch(used)
        except Exception:
            self.ring.give_back(used)  # written on the next pass instead
            raise
        for key_id in used:
            metrics.API_KEY_LAST_USED.labels(key_id=key_id).set_to_current_time()
        valid = await self.store.valid()
        self.ring.replace(valid)
        metrics.API_KEYS_LOADED.set(len(valid))

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await asyncpg.connect(_dsn(self.store.engine), timeout=5)
        await self._listener.add_listener(CHANNEL, lambda *_: self._changed.set())
        self._changed.set()  # anything missed while not listening: reload now

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except Exception as exc:
                log.warning("api key notifications unavailable; reloading every interval",
                            extra={"error": type(exc).__name__})
            self._changed.clear()
            try:
                await self.refresh()
            except Exception as exc:  # keep the keys we have; never take the server down
                log.warning("api key refresh failed", extra={"error": type(exc).__name__})
            try:
                await asyncio.wait_for(self._changed.wait(), self.interval)
            except TimeoutError:
                pass

    async def close(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
