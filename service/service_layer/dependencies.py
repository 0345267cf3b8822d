"""What the use cases are given: a unit-of-work factory, the processors, the cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..domain.model import Payment
from ..domain.processor import PaymentProcessor
from .ports import UnitOfWork


class ProcessorLookup(Protocol):
    default: str

    def get(self, name: str) -> PaymentProcessor:
        """The adapter called ``name``; InvalidArgument("processor", ...) if unknown."""
        ...


class PaymentCache(Protocol):
    """Read-through cache of GetPayment. Failures must never fail a request."""

    async def get(self, merchant_id: str, payment_id: str) -> Payment | None: ...

    async def put(self, payment: Payment) -> None: ...

    async def changed(self, payment: Payment) -> None:
        """Called after every committed state change, in the same code path."""
        ...


class NoCache:
    """No REDIS_URL: every read goes to PostgreSQL."""

    async def get(self, merchant_id: str, payment_id: str) -> Payment | None:
        return None

    async def put(self, payment: Payment) -> None:
        return None

    async def changed(self, payment: Payment) -> None:
        return None


@dataclasses.dataclass
class Dependencies:
    uow: Callable[[], UnitOfWork]
    processors: ProcessorLookup
    cache: PaymentCache = dataclasses.field(default_factory=NoCache)
    # How long a request owns its idempotency key before a retry may take over.
    lease_seconds: float = 30.0
    # Gives committed events their positions (service.adapters.event_log.sequence); None without PostgreSQL.
    sequence_events: Callable[..., Awaitable[int]] | None = None
