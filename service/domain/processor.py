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
from datetime import datetime, timedelta
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


class ProcessorRefundStatus(str, enum.Enum):
    """A refund's state as the processor sees it (the same names as the domain's RefundStatus)."""

    PENDING = "PENDING"  # accepted; the money has not moved yet and may still fail
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


@dataclasses.dataclass(frozen=True)
class ProcessorRefund:
    """The processor's record of one refund.

    ``refund_id`` is our id when the processor returns it (Stripe: the refund's
    metadata), so a webhook about a refund finds the refund it is about."""

    reference: str
    amount: int
    status: ProcessorRefundStatus = ProcessorRefundStatus.SUCCEEDED
    failure_reason: str = ""
    refund_id: str = ""
    payment_reference: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is ProcessorRefundStatus.SUCCEEDED


class DisputeStatus(str, enum.Enum):
    """A dispute's state (Stripe's names, upper case)."""

    WARNING_NEEDS_RESPONSE = "WARNING_NEEDS_RESPONSE"  # an inquiry: no money has moved
    WARNING_UNDER_REVIEW = "WARNING_UNDER_REVIEW"
    WARNING_CLOSED = "WARNING_CLOSED"  # the inquiry ended without becoming a chargeback
    NEEDS_RESPONSE = "NEEDS_RESPONSE"  # a chargeback: the amount is withdrawn from the merchant
    UNDER_REVIEW = "UNDER_REVIEW"
    WON = "WON"  # the amount is reinstated
    LOST = "LOST"  # the amount stays withdrawn

    @property
    def final(self) -> bool:
        return self in (DisputeStatus.WARNING_CLOSED, DisputeStatus.WON, DisputeStatus.LOST)

    @property
    def inquiry(self) -> bool:
        return self.value.startswith("WARNING_")


@dataclasses.dataclass(frozen=True)
class ProcessorDispute:
    """The processor's view of one dispute (chargeback or inquiry) of a payment."""

    reference: str
    payment_reference: str
    amount: int
    status: DisputeStatus
    reason: str = ""
    evidence_due_by: datetime | None = None
    funds_withdrawn: bool = False
    funds_reinstated: bool = False


@dataclasses.dataclass(frozen=True)
class DisputeEvidence:
    """Text evidence for a dispute (a subset of Stripe's evidence fields, all optional)."""

    product_description: str = ""
    customer_name: str = ""
    customer_email_address: str = ""
    customer_communication: str = ""
    refund_policy_disclosure: str = ""
    refund_refusal_explanation: str = ""
    service_date: str = ""
    shipping_tracking_number: str = ""
    uncategorized_text: str = ""

    def fields(self) -> dict[str, str]:
        """The fields that were given, by name."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v}


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

    # ---- looking before re-sending (reconciliation) ----

    idempotency_retention: timedelta
    """How long the processor keeps an idempotency key (Stripe: 24 h). A call older
    than this can no longer be re-sent safely: the processor would take it as new."""

    async def find_payment(self, payment_id: str) -> ProcessorPayment | None:
        """The processor's payment made for our ``payment_id`` (found by the id we sent
        with it), or None when the processor has no trace of it."""
        ...

    async def find_refund(self, reference: str, refund_id: str) -> ProcessorRefund | None:
        """The processor's refund of payment ``reference`` made for our ``refund_id``, or None."""
        ...

    # ---- disputes ----

    async def update_dispute(
        self, reference: str, evidence: DisputeEvidence, *, submit: bool, idempotency_key: str
    ) -> ProcessorDispute:
        """Attach text evidence to a dispute; ``submit`` sends it to the bank (final)."""
        ...

    async def close_dispute(self, reference: str, *, idempotency_key: str) -> ProcessorDispute:
        """Accept the dispute as lost."""
        ...
