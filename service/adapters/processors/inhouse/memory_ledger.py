"""The in-house ledger in this process's memory (unit tests, a service without a database)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .records import LedgerPayment, LedgerRefund, StoredResult


class _MemoryTransaction:
    """Stages writes and applies them to the ledger on commit."""

    def __init__(self, ledger: InMemoryLedger) -> None:
        self._ledger = ledger
        self._payments: dict[str, LedgerPayment] = {}
        self._refunds: dict[str, LedgerRefund] = {}
        self._keys: dict[str, StoredResult] = {}

    async def claim_key(self, key: str, fingerprint: str) -> StoredResult | None:
        stored = self._ledger.keys.get(key)
        if stored is None:
            self._keys[key] = StoredResult(fingerprint, {})
        return stored

    async def save_result(self, key: str, result: Mapping[str, Any]) -> None:
        self._keys[key] = dataclasses.replace(self._keys[key], result=dict(result))

    async def add_payment_once(self, key: str, fingerprint: str, payment: LedgerPayment,
                               result: Mapping[str, Any]) -> StoredResult | None:
        stored = await self.claim_key(key, fingerprint)
        if stored is None:
            await self.add_payment(payment)
            await self.save_result(key, result)
        return stored

    async def payment(self, reference: str, *, lock: bool = True) -> LedgerPayment | None:
        return self._payments.get(reference) or self._ledger.payments.get(reference)

    async def add_payment(self, payment: LedgerPayment) -> None:
        self._payments[payment.reference] = payment

    async def update_payment(self, payment: LedgerPayment) -> None:
        self._payments[payment.reference] = payment

    async def add_refund(self, refund: LedgerRefund) -> None:
        self._refunds[refund.reference] = refund

    async def payment_for(self, payment_id: str) -> LedgerPayment | None:
        payments = {**self._ledger.payments, **self._payments}
        return next((p for p in payments.values() if p.payment_id == payment_id), None)

    async def stored_result(self, key: str) -> StoredResult | None:
        return self._keys.get(key) or self._ledger.keys.get(key)

    def commit(self) -> None:
        self._ledger.payments.update(self._payments)
        self._ledger.refunds.update(self._refunds)
        self._ledger.keys.update(self._keys)


class InMemoryLedger:
    """A ledger in this process's memory; transactions run one at a time."""

    def __init__(self) -> None:
        self.payments: dict[str, LedgerPayment] = {}
        self.refunds: dict[str, LedgerRefund] = {}
        self.keys: dict[str, StoredResult] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_MemoryTransaction]:
        async with self._lock:
            transaction = _MemoryTransaction(self)
            yield transaction
            transaction.commit()
