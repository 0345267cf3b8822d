"""The payment and its state machine.

    create ──authorize──> REQUIRES_CAPTURE ──capture──> CAPTURED ──refund──> PARTIALLY_REFUNDED ──> REFUNDED
       │                        │                                      (refunds repeat up to amount_captured)
       │                        └──cancel──> CANCELED
       ├──declined──> FAILED
       └──outcome unknown──> PROCESSING ──(retry with the key, or reconciliation)──> one of the above

Every processor call is bracketed: a ``begin_*`` step is committed before the
call (the payment shows PROCESSING, or a refund shows PENDING), and a
``complete_*`` / ``fail_*`` step records the processor's answer. A crash in
between leaves a record that reconciliation can finish, never a charge that
the database does not know about. Illegal steps raise an IllegalTransition
subclass and change nothing.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime

from . import errors
from .events import Event
from .money import validate_amount
from .processor import ProcessorPayment, ProcessorStatus


class Status(str, enum.Enum):
    REQUIRES_CAPTURE = "REQUIRES_CAPTURE"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    PROCESSING = "PROCESSING"


class CaptureMethod(str, enum.Enum):
    MANUAL = "MANUAL"
    AUTOMATIC = "AUTOMATIC"


class PendingAction(str, enum.Enum):
    """What a PROCESSING payment is waiting for the processor to confirm."""

    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    CANCEL = "CANCEL"


class RefundStatus(str, enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass
class Refund:
    refund_id: str
    amount: int
    reason: str
    status: RefundStatus
    created_at: datetime
    processor_reference: str = ""


@dataclasses.dataclass
class Payment:
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    status: Status
    capture_method: CaptureMethod
    processor: str
    payment_method: str = ""
    customer_id: str = ""
    description: str = ""
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    processor_reference: str = ""
    amount_captured: int = 0
    amount_refunded: int = 0
    refunds: list[Refund] = dataclasses.field(default_factory=list)
    failure_code: str = ""
    failure_message: str = ""
    pending_action: PendingAction | None = None
    pending_amount: int = 0
    created_at: datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime = dataclasses.field(default_factory=utcnow)
    version: int = 1
    # Changes recorded since the payment was loaded; the repository persists and clears them.
    events: list[Event] = dataclasses.field(default_factory=list, repr=False, compare=False)

    # ---- creation -------------------------------------------------------

    @classmethod
    def new(cls, **fields) -> Payment:
        """A payment written before the processor is asked to authorize it."""
        payment = cls(status=Status.PROCESSING, pending_action=PendingAction.AUTHORIZE, **fields)
        payment._record("payment.created")
        return payment

    def authorized(self, processor_reference: str, *, captured: bool) -> None:
        self._expect_pending(PendingAction.AUTHORIZE)
        self.processor_reference = processor_reference
        if captured:
            self.amount_captured = self.amount
            self._settle(Status.CAPTURED)
            self._record("payment.captured")
        else:
            self._settle(Status.REQUIRES_CAPTURE)
            self._record("payment.authorized")

    def declined(self, code: str, message: str) -> None:
        self._expect_pending(PendingAction.AUTHORIZE)
        self.failure_code, self.failure_message = code, message
        self._settle(Status.FAILED)
        self._record("payment.failed")

    # ---- capture --------------------------------------------------------

    def begin_capture(self, amount: int | None) -> int:
        """Reserve a capture of ``amount`` (default: all); returns the amount."""
        if self.status is not Status.REQUIRES_CAPTURE:
            raise errors.PaymentNotCapturable(
                f"payment {self.payment_id} is {self.status.value}; only REQUIRES_CAPTURE payments can be captured"
            )
        amount = self.amount if amount is None else validate_amount(amount)
        if amount > self.amount:
            raise errors.AmountExceedsCapturable(
                f"amount: {amount} exceeds the capturable amount {self.amount}"
            )
        self._begin(PendingAction.CAPTURE, amount)
        self._record("payment.capture_requested")
        return amount

    def complete_capture(self) -> None:
        self._expect_pending(PendingAction.CAPTURE)
        self.amount_captured = self.pending_amount
        self._settle(Status.CAPTURED)
        self._record("payment.captured")

    # ---- cancel ---------------------------------------------------------

    def begin_cancel(self) -> None:
        if self.status is not Status.REQUIRES_CAPTURE:
            raise errors.PaymentNotCancelable(
                f"payment {self.payment_id} is {self.status.value}; only REQUIRES_CAPTURE payments can be canceled"
            )
        self._begin(PendingAction.CANCEL, 0)
        self._record("payment.cancel_requested")

    def complete_cancel(self) -> None:
        self._expect_pending(PendingAction.CANCEL)
        self._settle(Status.CANCELED)
        self._record("payment.canceled")

    def abandon_pending(self) -> None:
        """The processor refused a capture or cancel: back to REQUIRES_CAPTURE."""
        if self.pending_action not in (PendingAction.CAPTURE, PendingAction.CANCEL):
            raise errors.IllegalTransition(f"payment {self.payment_id} has no capture or cancel in flight")
        refused = "payment.capture_failed" if self.pending_action is PendingAction.CAPTURE else "payment.cancel_failed"
        self._settle(Status.REQUIRES_CAPTURE)
        self._record(refused)

    # ---- refunds --------------------------------------------------------

    @property
    def amount_refund_pending(self) -> int:
        return sum(r.amount for r in self.refunds if r.status is RefundStatus.PENDING)

    @property
    def amount_refundable(self) -> int:
        return self.amount_captured - self.amount_refunded - self.amount_refund_pending

    def begin_refund(self, refund_id: str, amount: int | None, reason: str = "") -> Refund:
        """Reserve a refund (default: all that is left) as a PENDING record."""
        if self.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
            raise errors.PaymentNotRefundable(
                f"payment {self.payment_id} is {self.status.value}; only captured payments can be refunded"
            )
        if amount is None:
            amount = self.amount_refundable
            if amount <= 0:
                raise errors.RefundExceedsCaptured(
                    f"payment {self.payment_id} has nothing left to refund"
                )
        else:
            validate_amount(amount)
        if amount > self.amount_refundable:
            raise errors.RefundExceedsCaptured(
                f"amount: {amount} exceeds the refundable amount {self.amount_refundable}"
                f" (captured {self.amount_captured}, refunded {self.amount_refunded},"
                f" pending {self.amount_refund_pending})"
            )
        refund = Refund(refund_id, amount, reason, RefundStatus.PENDING, utcnow())
        self.refunds.append(refund)
        self._touch()
        self._record("refund.created", refund_id=refund_id)
        return refund

    def complete_refund(self, refund_id: str, processor_reference: str = "") -> None:
        refund = self._pending_refund(refund_id)
        refund.status = RefundStatus.SUCCEEDED
        refund.processor_reference = processor_reference
        self.amount_refunded += refund.amount
        self.status = Status.REFUNDED if self.amount_refunded >= self.amount_captured else Status.PARTIALLY_REFUNDED
        self._touch()
        self._record("refund.succeeded", refund_id=refund_id)
        self._record("payment.refunded" if self.status is Status.REFUNDED else "payment.partially_refunded",
                     refund_id=refund_id)

    def fail_refund(self, refund_id: str) -> None:
        self._pending_refund(refund_id).status = RefundStatus.FAILED
        self._touch()
        self._record("refund.failed", refund_id=refund_id)

    def refund(self, refund_id: str) -> Refund:
        for refund in self.refunds:
            if refund.refund_id == refund_id:
                return refund
        raise errors.NotFound(f"refund {refund_id} not found")

    # ---- the processor's own view (webhooks) ----------------------------

    def apply_processor_view(self, view: ProcessorPayment, new_refund_id) -> bool:
        """Move forward to what the processor reports; never backwards.

        Amounts only grow and final states stay final, so a duplicate or an
        older (out-of-order) event is a no-op. Returns whether anything changed.
        """
        before = (self.status, self.amount_captured, self.amount_refunded, len(self.refunds))
        waiting = self.status is Status.PROCESSING
        open_ = self.status is Status.REQUIRES_CAPTURE or waiting
        if view.reference and not self.processor_reference:
            self.processor_reference = view.reference
        if view.status is ProcessorStatus.FAILED and waiting and self.pending_action is PendingAction.AUTHORIZE:
            self.declined(view.failure_code or "declined", view.failure_message)
        elif view.status is ProcessorStatus.CANCELED and open_ and self.amount_captured == 0:
            self._settle(Status.CANCELED)
            self._record("payment.canceled")
        elif view.amount_captured > self.amount_captured and open_:
            self.amount_captured = min(view.amount_captured, self.amount)
            self._settle(Status.CAPTURED)
            self._record("payment.captured")
        elif view.status is ProcessorStatus.AUTHORIZED and waiting and self.pending_action is PendingAction.AUTHORIZE:
            self._settle(Status.REQUIRES_CAPTURE)
            self._record("payment.authorized")
        self._apply_refunded(min(view.amount_refunded, self.amount_captured), new_refund_id)
        return before != (self.status, self.amount_captured, self.amount_refunded, len(self.refunds))

    def _apply_refunded(self, total: int, new_refund_id) -> None:
        """Confirm pending refunds (oldest first), then record any refund made elsewhere."""
        if total <= self.amount_refunded or self.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
            return
        for refund in [r for r in self.refunds if r.status is RefundStatus.PENDING]:
            if self.amount_refunded + refund.amount <= total:
                self.complete_refund(refund.refund_id)
        missing = total - self.amount_refunded - self.amount_refund_pending
        if missing > 0:
            refund = Refund(new_refund_id(), missing, "made at the processor", RefundStatus.PENDING, utcnow())
            self.refunds.append(refund)
            self._record("refund.created", refund_id=refund.refund_id)
            self.complete_refund(refund.refund_id)

    # ---- helpers --------------------------------------------------------

    def _begin(self, action: PendingAction, amount: int) -> None:
        self.status = Status.PROCESSING
        self.pending_action = action
        self.pending_amount = amount
        self._touch()

    def _settle(self, status: Status) -> None:
        self.status = status
        self.pending_action = None
        self.pending_amount = 0
        self._touch()

    def _expect_pending(self, action: PendingAction) -> None:
        if self.status is not Status.PROCESSING or self.pending_action is not action:
            raise errors.IllegalTransition(
                f"payment {self.payment_id} is not waiting for {action.value.lower()}"
            )

    def _pending_refund(self, refund_id: str) -> Refund:
        refund = self.refund(refund_id)
        if refund.status is not RefundStatus.PENDING:
            raise errors.IllegalTransition(f"refund {refund_id} is already {refund.status.value}")
        return refund

    def _touch(self) -> None:
        self.updated_at = utcnow()

    def _record(self, type: str, *, refund_id: str = "", dispute_id: str = "") -> None:
        """Note a change for the event log (service.domain.events has the contract)."""
        self.events.append(Event(type, self.payment_id, refund_id=refund_id, dispute_id=dispute_id))
