"""The processor call a begun payment is waiting for, as a value.

After step 1 of a use case (handlers.py) a payment waits for one processor
call: its own step (authorize, capture or cancel: the payment shows PROCESSING
with that ``pending_action``) or one refund (a PENDING refund record). The value
knows whether a freshly locked payment still waits for it, how to send it, and
how to give the reservation back when the processor refuses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..domain.model import Payment, PendingAction, Status
from ..domain.processor import PaymentProcessor

# How to record a processor's answer on the payment, once it is locked again (step 3).
Record = Callable[[Payment], None]


def processor_key(payment: Payment, action: PendingAction) -> str:
    """The processor idempotency key of a payment's own step: re-sending it can never act twice."""
    return f"{payment.payment_id}:{action.value.lower()}"


@dataclasses.dataclass(frozen=True)
class PaymentCall:
    """The payment's own step: authorize, capture or cancel."""

    action: PendingAction

    def waiting(self, payment: Payment) -> bool:
        return payment.status is Status.PROCESSING and payment.pending_action is self.action

    def undo(self, payment: Payment, reason: str = "") -> None:
        payment.abandon_pending()

    async def send(self, processor: PaymentProcessor, payment: Payment) -> Record:
        """Capture or cancel. (An authorization is sent by handlers, which also records declines.)"""
        key = processor_key(payment, self.action)
        if self.action is PendingAction.CAPTURE:
            await processor.capture(payment.processor_reference, payment.pending_amount, idempotency_key=key)
            return Payment.complete_capture
        if self.action is PendingAction.CANCEL:
            await processor.cancel(payment.processor_reference, idempotency_key=key)
            return Payment.complete_cancel
        raise ValueError(f"{self.action.value} is not sent through PaymentCall.send")


@dataclasses.dataclass(frozen=True)
class RefundCall:
    """One refund, reserved as a PENDING record; its id is the processor idempotency key."""

    refund_id: str

    def waiting(self, payment: Payment) -> bool:
        return any(refund.refund_id == self.refund_id for refund in payment.pending_refunds)

    def undo(self, payment: Payment, reason: str = "") -> None:
        payment.fail_refund(self.refund_id, reason)

    async def send(self, processor: PaymentProcessor, payment: Payment) -> Record:
        refund = payment.find_refund(self.refund_id)
        result = await processor.refund(
            payment.processor_reference, refund.amount, idempotency_key=refund.refund_id, reason=refund.reason
        )
        # SUCCEEDED or FAILED at once, or PENDING (accepted: it may still fail; a webhook settles it)
        return lambda p: p.record_refund_answer(refund.refund_id, result)


PendingCall = PaymentCall | RefundCall


def pending_calls(payment: Payment) -> list[PendingCall]:
    """Every call the payment waits for: its own step first, then its pending refunds, oldest first."""
    own: list[PendingCall] = []
    if payment.status is Status.PROCESSING and payment.pending_action is not None:
        own.append(PaymentCall(payment.pending_action))
    return own + [RefundCall(refund.refund_id) for refund in payment.pending_refunds]
