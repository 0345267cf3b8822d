"""In-memory fakes of the service-layer ports, for unit tests only.

They keep the same contract as the SQL adapters (a unit of work is all or
nothing; a key is claimed once), so the use cases can be tested fast.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from service.domain import errors
from service.domain.model import Payment, RefundStatus, Status, utcnow
from service.service_layer.audit import current_actor
from service.service_layer.ports import Claim, ClaimKind, PageCursor, PaymentFilter


class Store:
    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.keys: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: dict[str, tuple] = {}
        # The event log: (payment_id, sequence, type, actor) per committed domain event.
        self.log: list[tuple[str, int, str, str]] = []
        self.commits = 0


class MemoryPayments:
    def __init__(self, staged: Store) -> None:
        self.staged = staged

    async def add(self, payment: Payment) -> None:
        payment.version = max(1, len(payment.events))
        self._journal(payment)
        self.staged.payments[payment.payment_id] = copy.deepcopy(payment)

    async def get(self, merchant_id: str, payment_id: str, *, for_update: bool = False) -> Payment | None:
        payment = self.staged.payments.get(payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return None
        return copy.deepcopy(payment)

    async def save(self, payment: Payment) -> None:
        if not payment.events:
            payment._record("payment.updated")
        payment.version += len(payment.events)
        self._journal(payment)
        self.staged.payments[payment.payment_id] = copy.deepcopy(payment)

    def _journal(self, payment: Payment) -> None:
        first = payment.version - len(payment.events) + 1
        self.staged.log.extend((e.payment_id, first + i, e.type, current_actor()) for i, e in enumerate(payment.events))
        payment.events.clear()

    async def list(self, merchant_id: str, filters: PaymentFilter, after: PageCursor | None,
                   limit: int) -> list[Payment]:
        rows = [p for p in self.staged.payments.values() if p.merchant_id == merchant_id
                and (filters.status is None or p.status is filters.status)
                and (not filters.customer_id or p.customer_id == filters.customer_id)
                and (after is None or (p.created_at, p.payment_id) < (after.created_at, after.payment_id))]
        rows.sort(key=lambda p: (p.created_at, p.payment_id), reverse=True)
        return copy.deepcopy(rows[:limit])

    async def awaiting_processor(self, older_than: datetime, limit: int) -> list[tuple[str, str]]:
        return [(p.merchant_id, p.payment_id) for p in self.staged.payments.values()
                if (p.status is Status.PROCESSING and p.updated_at < older_than)
                or any(r.status is RefundStatus.PENDING and r.created_at < older_than for r in p.refunds)][:limit]


    async def find_by_reference(self, processor: str, reference: str) -> tuple[str, str] | None:
        for p in self.staged.payments.values():
            if p.processor == processor and p.processor_reference == reference:
                return p.merchant_id, p.payment_id
        return None


class MemoryWebhookEvents:
    def __init__(self, staged: Store) -> None:
        self.staged = staged

    async def record(self, event_id, *, processor, type, outcome, payment_id) -> bool:
        if event_id in self.staged.events:
            return False
        self.staged.events[event_id] = (processor, type, outcome, payment_id)
        return True


class MemoryIdempotency:
    def __init__(self, staged: Store) -> None:
        self.staged = staged

    async def claim(self, merchant_id, key, *, operation, fingerprint, payment_id, refund_id, lease_seconds):
        now = utcnow()
        row = self.staged.keys.get((merchant_id, key))
        if row is None:
            self.staged.keys[(merchant_id, key)] = dict(
                operation=operation, fingerprint=fingerprint, state="started", payment_id=payment_id,
                refund_id=refund_id, response=None, locked_until=now + timedelta(seconds=lease_seconds),
                created_at=now)
            return Claim(ClaimKind.NEW, payment_id, refund_id)
        if row["operation"] != operation or row["fingerprint"] != fingerprint:
            raise errors.IdempotencyKeyReused("idempotency key was already used with different parameters")
        if row["state"] == "completed":
            return Claim(ClaimKind.REPLAY, row["payment_id"], row["refund_id"], row["response"])
        if row["locked_until"] > now:
            raise errors.IdempotencyKeyInUse("a request with this idempotency key is still in progress")
        row["locked_until"] = now + timedelta(seconds=lease_seconds)
        return Claim(ClaimKind.RESUME, row["payment_id"], row["refund_id"])

    async def complete(self, merchant_id, key, response):
        self.staged.keys[(merchant_id, key)].update(state="completed", response=copy.deepcopy(response))

    async def release(self, merchant_id, key):
        self.staged.keys[(merchant_id, key)]["locked_until"] = utcnow() - timedelta(microseconds=1)

    async def forget(self, merchant_id, key):
        self.staged.keys.pop((merchant_id, key), None)

    async def prune(self, older_than):
        old = [k for k, row in self.staged.keys.items() if row["created_at"] < older_than
               and row["state"] == "completed"]
        for k in old:
            del self.staged.keys[k]
        return len(old)


class MemoryUnitOfWork:
    """All-or-nothing over a shared Store: changes are staged on a copy."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __aenter__(self) -> MemoryUnitOfWork:
        self.staged = copy.deepcopy(self.store)
        self.payments = MemoryPayments(self.staged)
        self.idempotency = MemoryIdempotency(self.staged)
        self.webhook_events = MemoryWebhookEvents(self.staged)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.staged = None

    async def commit(self) -> None:
        self.store.payments = self.staged.payments
        self.store.keys = self.staged.keys
        self.store.events = self.staged.events
        self.store.log = self.staged.log
        self.store.commits += 1
        self.staged = copy.deepcopy(self.store)
        self.payments.staged = self.idempotency.staged = self.webhook_events.staged = self.staged


class SingleProcessor:
    """A ProcessorLookup holding given adapters (default: the first)."""

    def __init__(self, **processors) -> None:
        self.processors = processors
        self.default = next(iter(processors))

    def get(self, name: str):
        if name not in self.processors:
            raise errors.InvalidArgument("processor", f"unknown processor {name!r}")
        return self.processors[name]
