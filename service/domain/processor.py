"""The PaymentProcessor port: what the service needs from any processor.

Adapters (service.adapters.processors.*) implement it on top of a processor's
own client library and translate that library's exceptions into the
ProcessorError family in service.domain.errors at their boundary:

    ProcessorDeclined        the processor said no (a final answer)
    ProcessorInvalidRequest  the processor rejected the request as malformed
    ProcessorUnavailable     not reached; nothing happened; safe to retry
    ProcessorOutcomeUnknown  sent, but no answer (timeout): may have happened

Every mutating call carries an idempotency key; the processor must treat a
repeat with the same key as the same operation (Stripe does; the in-house
processor does too). That is what makes retries and reconciliation safe.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Protocol, runtime_checkable


class ProcessorStatus(str, enum.Enum):
    """A payment's state as the processor sees it."""

    AUTHORIZED = "AUTHORIZED"  # funds held, capture pending
    CAPTURED = "CAPTURED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    PENDING = "PENDING"  # the processor itself has not decided yet


@dataclasses.dataclass(frozen=True)
class AuthorizeRequest:
    """What a processor needs to authorize (and optionally capture) a payment."""

    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    payment_method: str
    capture: bool
    description: str = ""
    customer_id: str = ""


@dataclasses.dataclass(frozen=True)
class ProcessorPayment:
    """The processor's view of one payment."""

    reference: str
    status: ProcessorStatus
    amount: int
    amount_captured: int = 0
    amount_refunded: int = 0
    failure_code: str = ""
    failure_message: str = ""


@dataclasses.dataclass(frozen=True)
class ProcessorRefund:
    """The processor's record of one refund."""

    reference: str
    amount: int
    succeeded: bool = True


@runtime_checkable
class PaymentProcessor(Protocol):
    """A payment processor, in the service's own terms."""

    name: str

    async def authorize(self, request: AuthorizeRequest, *, idempotency_key: str) -> ProcessorPayment:
        """Authorize (and capture, if request.capture) a payment.

        Returns status AUTHORIZED or CAPTURED; raises ProcessorDeclined when
        declined (a declined payment is not an exception to the caller's flow
        but a final answer)."""
        ...

    async def capture(self, reference: str, amount: int, *, idempotency_key: str) -> ProcessorPayment:
        """Capture ``amount`` of an authorized payment; the rest is released."""
        ...

    async def refund(
        self, reference: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> ProcessorRefund:
        """Refund ``amount`` of a captured payment."""
        ...

    async def cancel(self, reference: str, *, idempotency_key: str) -> ProcessorPayment:
        """Release an authorization before capture."""
        ...

    async def retrieve(self, reference: str) -> ProcessorPayment:
        """The processor's current view of a payment (for reconciliation)."""
        ...
