"""Idempotency keys in PostgreSQL (the IdempotencyStore port), on the unit of work's transaction.

A key is claimed by INSERT ... ON CONFLICT DO NOTHING: of many concurrent requests with one key,
exactly one inserts the row; the others wait for its transaction, then read the row under its lock
(``claim``: REPLAY, IdempotencyKeyReused, IdempotencyKeyInUse, RESUME). A create claims its key and
writes its payment in one statement (``claim_with_staged``), which answers from the row it can see
and leaves every other case to ``claim``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from ..domain import errors
from ..domain.model import utcnow
from ..service_layer.ports import Claim, ClaimKind
from . import hot_statements as sql
from .event_log import EventJournal
from .pg import Transaction
from .tables import idempotency_keys


def _finished(row: Any, operation: str, fingerprint: str) -> Claim | None:
    """The answer a key's row gives by itself: another request's parameters (IdempotencyKeyReused) or
    its stored response (REPLAY); None for a request not finished."""
    if row["operation"] != operation or row["fingerprint"] != fingerprint:
        raise errors.IdempotencyKeyReused(
            "idempotency key was already used with different parameters; use a new key for a new request"
        )
    if row["state"] == "completed":
        return Claim(ClaimKind.REPLAY, row["payment_id"], row["refund_id"], row["response"])
    return None


class SqlIdempotencyStore:
    """Keys; ``complete`` is staged with the unit of work's last statement (event_log.EventJournal)."""

    def __init__(self, transaction: Transaction, journal: EventJournal) -> None:
        self.transaction = transaction
        self.connection = transaction.connection
        self.journal = journal

    async def claim(
        self,
        merchant_id: str,
        key: str,
        *,
        operation: str,
        fingerprint: str,
        payment_id: str,
        refund_id: str,
        lease_seconds: float,
        send_staged: bool = True,
    ) -> Claim:
        """The locked path: claim, or lock the key's row and answer from it. ``send_staged=False``
        keeps what is staged for the commit (SqlUnitOfWork.claim_and_add)."""
        if send_staged:
            await self.journal.flush()
        now = utcnow()
        lease = now + timedelta(seconds=lease_seconds)
        for _ in range(3):
            # INSERT ... ON CONFLICT DO NOTHING is the atomic claim: of many
            # concurrent requests with one key, exactly one inserts the row.
            inserted = await self.transaction.fetchrow(
                sql.CLAIM_KEY, merchant_id=merchant_id, key=key, operation=operation, fingerprint=fingerprint,
                state="started", payment_id=payment_id, refund_id=refund_id, locked_until=lease, created_at=now)
            if inserted is not None:
                return Claim(ClaimKind.NEW, payment_id, refund_id)
            row = await self.transaction.fetchrow(sql.LOCK_KEY, merchant_id=merchant_id, key=key)
            if row is not None:
                break
            # The earlier request forgot its key (nothing happened there) between our claim and our
            # lock: claim again.
        else:
            raise errors.IdempotencyKeyInUse("a request with this idempotency key is still in progress; retry shortly")
        finished = _finished(row, operation, fingerprint)
        if finished is not None:
            return finished
        if row["locked_until"] > now:
            raise errors.IdempotencyKeyInUse(
                "a request with this idempotency key is still in progress; retry shortly"
            )
        await self.transaction.execute(sql.RENEW_KEY, merchant_id=merchant_id, key=key, locked_until=lease)
        return Claim(ClaimKind.RESUME, row["payment_id"], row["refund_id"])

    async def claim_with_staged(self, merchant_id: str, key: str, *, operation: str, fingerprint: str,
                                payment_id: str, refund_id: str, lease_seconds: float) -> Claim | None:
        """The claim and what is staged, as the unit of work's one statement (EventJournal.flush_claimed):
        NEW (all of it written and committed), or the answer of a finished earlier request with this key
        (nothing written). None when that statement could not decide (nothing written, everything
        still staged): the caller takes the locked path, ``claim``."""
        now = utcnow()
        row = await self.journal.flush_claimed({
            "merchant_id": merchant_id, "key": key, "operation": operation, "fingerprint": fingerprint,
            "state": "started", "payment_id": payment_id, "refund_id": refund_id,
            "locked_until": now + timedelta(seconds=lease_seconds), "created_at": now})
        if row is None:
            return None
        if row["claimed"]:
            return Claim(ClaimKind.NEW, payment_id, refund_id)
        if row["operation"] is None:  # committed after this statement's snapshot: not readable here
            return None
        # A finished request's key never changes again, so the snapshot's row answers as the locked one
        # would; one still in flight (or whose lease ran out) is decided under its row lock.
        return _finished(row, operation, fingerprint)

    async def complete(self, merchant_id: str, key: str, response: dict[str, Any]) -> None:
        self.journal.stage(sql.COMPLETE_KEY, {"merchant_id": merchant_id, "key": key, "response": response})

    async def release(self, merchant_id: str, key: str) -> None:
        await self.journal.flush()
        await self.transaction.execute(sql.RELEASE_KEY, merchant_id=merchant_id, key=key)

    async def forget(self, merchant_id: str, key: str) -> None:
        await self.journal.flush()
        await self.transaction.execute(sql.FORGET_KEY, merchant_id=merchant_id, key=key)

    async def prune(self, older_than: datetime) -> int:
        await self.journal.flush()
        result = await self.connection.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than,
                                           idempotency_keys.c.state == "completed")
        )
        return result.rowcount
