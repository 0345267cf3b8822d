"""The ledger port of the in-house processor: atomic transactions over its records.

Implemented by memory_ledger.InMemoryLedger and postgres_ledger.PostgresLedger.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from .records import LedgerPayment, LedgerRefund, StoredResult


class LedgerTransaction(Protocol):
    """One atomic unit of ledger work; nothing is visible to others until it commits."""

    async def claim_key(self, key: str, fingerprint: str) -> StoredResult | None:
        """Claim ``key`` for this transaction (None), or return the result stored for it.

        A concurrent claim of the same key waits until the first transaction ends."""
        ...

    async def save_result(self, key: str, result: Mapping[str, Any]) -> None: ...

    async def add_payment_once(self, key: str, fingerprint: str, payment: LedgerPayment,
                               result: Mapping[str, Any]) -> StoredResult | None:
        """claim_key, add_payment and save_result at once (one statement in PostgreSQL): None when
        done, else (nothing written) the result stored for ``key`` by an earlier call."""
        ...

    async def payment(self, reference: str, *, lock: bool = True) -> LedgerPayment | None:
        """The payment, locked against concurrent changes until commit when ``lock``."""
        ...

    async def add_payment(self, payment: LedgerPayment) -> None: ...

    async def update_payment(self, payment: LedgerPayment) -> None: ...

    async def add_refund(self, refund: LedgerRefund) -> None: ...

    async def payment_for(self, payment_id: str) -> LedgerPayment | None:
        """The payment made for our ``payment_id`` (a lookup, no lock): reconciliation looks before re-sending."""
        ...

    async def stored_result(self, key: str) -> StoredResult | None:
        """What the call with idempotency key ``key`` answered, if it happened."""
        ...


class Ledger(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[LedgerTransaction]:
        """A transaction that commits when the block exits normally, else rolls back."""
        ...
