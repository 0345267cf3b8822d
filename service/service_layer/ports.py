"""The ports the use cases need: repositories, the idempotency store, the unit of work.

SQL adapters (service.adapters.repository) and in-memory fakes (tests/fakes.py,
for unit tests) implement the same Protocols.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any, Protocol

from ..domain.model import Payment, Status


@dataclasses.dataclass(frozen=True)
class PageCursor:
    """Position after the last payment of a page (newest-first order)."""

    created_at: datetime
    payment_id: str


@dataclasses.dataclass(frozen=True)
class PaymentFilter:
    status: Status | None = None
    customer_id: str = ""


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None: ...

    async def get(self, merchant_id: str, payment_id: str, *, for_update: bool = False) -> Payment | None:
        """The payment, or None; ``for_update`` locks its row until commit."""
        ...

    async def save(self, payment: Payment) -> None:
        """Write back a payment read with for_update (and its new or changed refunds)."""
        ...

    async def list(
        self, merchant_id: str, filters: PaymentFilter, after: PageCursor | None, limit: int
    ) -> list[Payment]: ...

    async def awaiting_processor(self, older_than: datetime, limit: int) -> list[tuple[str, str]]:
        """(merchant_id, payment_id) of payments PROCESSING or with a PENDING refund."""
        ...

    async def find_by_reference(self, processor: str, reference: str) -> tuple[str, str] | None:
        """(merchant_id, payment_id) of the payment the processor calls ``reference``."""
        ...

    async def requiring_review(self, limit: int) -> list[Payment]:
        """Payments marked for a person (review_reason set), oldest change first."""
        ...

    async def count_requiring_review(self) -> int: ...

    async def history(self, payment_id: str) -> list[tuple[int, str, str]] | None:
        """(sequence, type, status after it) of the payment's events; None without an event log."""
        ...

    async def all_ids(self, after: str, limit: int, merchants: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(merchant_id, payment_id) of every payment after ``after`` (of ``merchants`` when given),
        in payment id order."""
        ...


class WebhookEvents(Protocol):
    async def record(self, event_id: str, *, processor: str, type: str, outcome: str, payment_id: str) -> bool:
        """Remember an event; False if it was already recorded (a duplicate delivery)."""
        ...


class ClaimKind(enum.Enum):
    NEW = "new"  # this request owns the key now
    REPLAY = "replay"  # an earlier request finished: return its response
    RESUME = "resume"  # an earlier request died midway: finish its work


@dataclasses.dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    payment_id: str
    refund_id: str = ""
    response: dict[str, Any] | None = None


class IdempotencyStore(Protocol):
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
    ) -> Claim:
        """Atomically take the key, or report what an earlier request left.

        Raises IdempotencyKeyReused (different fingerprint) or
        IdempotencyKeyInUse (another request holds the lease)."""
        ...

    async def complete(self, merchant_id: str, key: str, response: dict[str, Any]) -> None: ...

    async def release(self, merchant_id: str, key: str) -> None:
        """Give up the lease but keep the key: a retry resumes the work."""
        ...

    async def forget(self, merchant_id: str, key: str) -> None:
        """Drop the key: nothing happened, a retry starts afresh."""
        ...

    async def prune(self, older_than: datetime) -> int: ...


class UnitOfWork(Protocol):
    payments: PaymentRepository
    idempotency: IdempotencyStore
    webhook_events: WebhookEvents

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def claim_and_add(self, payment: Payment, *, key: str, fingerprint: str, lease_seconds: float) -> Claim:
        """A create's begin as one step: claim ``key`` (operation "create") and, only if it is new, add
        ``payment``; what it wrote is committed when it returns. NEW: the key and the payment are
        written. REPLAY: nothing is. RESUME: only the key's renewed lease. Raises as ``claim`` does."""
        ...

    async def commit(self) -> None: ...
