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

Money also moves after a request was answered, and only forwards:

    refund   PENDING ──> SUCCEEDED ──> FAILED        (a refund can fail even after succeeding)
                 └─────> FAILED | CANCELED            (final; the amount is refundable again)
    dispute  NEEDS_RESPONSE ──> UNDER_REVIEW ──> WON | LOST
             WARNING_NEEDS_RESPONSE ──> WARNING_UNDER_REVIEW ──> WARNING_CLOSED   (inquiries move no money)

PENDING and SUCCEEDED refunds hold their amount (amount_refunded counts
SUCCEEDED only; PENDING is reserved so it cannot be refunded twice). A
chargeback withholds its amount (amount_disputed) from creation until it is
won; a lost one keeps it. What the merchant kept is
amount_captured - amount_refunded - amount_disputed. Updates from the
processor are applied by comparing states, never by counting deliveries, so a
duplicate or an older event changes nothing.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime

from . import errors
from .events import Event
from .money import validate_amount
from .processor import (
    DisputeStatus,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
    ProcessorStatus,
)

_ELSEWHERE = "made at the processor"


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
    CANCELED = "CANCELED"

    @property
    def final(self) -> bool:
        return self in (RefundStatus.FAILED, RefundStatus.CANCELED)


def _dispute_event(before: Dispute, after: Dispute) -> str:
    """The event type of one dispute change (the most significant one)."""
    if after.status.final and not before.status.final:
        return "dispute.closed"
    if after.funds_reinstated and not before.funds_reinstated:
        return "dispute.funds_reinstated"
    if after.funds_withdrawn and not before.funds_withdrawn:
        return "dispute.funds_withdrawn"
    return "dispute.updated"


# How far along each dispute status is; a status never moves to a lower rank.
_DISPUTE_RANK = {
    DisputeStatus.WARNING_NEEDS_RESPONSE: 0, DisputeStatus.NEEDS_RESPONSE: 0,
    DisputeStatus.WARNING_UNDER_REVIEW: 1, DisputeStatus.UNDER_REVIEW: 1,
    DisputeStatus.WARNING_CLOSED: 2, DisputeStatus.WON: 2, DisputeStatus.LOST: 2,
}


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
    failure_reason: str = ""


@dataclasses.dataclass
class Dispute:
    """A customer's dispute of a captured payment (a chargeback, or an inquiry: WARNING_*)."""

    dispute_id: str
    processor_reference: str
    amount: int
    reason: str
    status: DisputeStatus
    created_at: datetime
    updated_at: datetime
    evidence_due_by: datetime | None = None
    funds_withdrawn: bool = False
    funds_reinstated: bool = False
    evidence_submitted: bool = False

    @property
    def amount_withheld(self) -> int:
        """What this dispute takes from the merchant now: a chargeback's amount until it is won."""
        if self.status.inquiry or self.funds_reinstated or self.status is DisputeStatus.WON:
            return 0
        return self.amount


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
    amount_disputed: int = 0
    disputes: list[Dispute] = dataclasses.field(default_factory=list)
    review_reason: str = ""
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
        return sum(r.amount for r in self.pending_refunds)

    @property
    def amount_refundable(self) -> int:
        return self.amount_captured - self.amount_refunded - self.amount_refund_pending - self.amount_disputed

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
                f" pending {self.amount_refund_pending}, disputed {self.amount_disputed})"
            )
        refund = Refund(refund_id, amount, reason, RefundStatus.PENDING, utcnow())
        self.refunds.append(refund)
        self._touch()
        self._record("refund.created", refund_id=refund_id)
        return refund

    def complete_refund(self, refund_id: str, processor_reference: str = "") -> None:
        refund = self._pending_refund(refund_id)
        refund.processor_reference = processor_reference or refund.processor_reference
        self._move_refund(refund, RefundStatus.SUCCEEDED)

    @property
    def pending_refunds(self) -> list[Refund]:
        """The refunds still waiting for the processor's answer, oldest first."""
        return [r for r in self.refunds if r.status is RefundStatus.PENDING]

    def fail_refund(self, refund_id: str, reason: str = "") -> None:
        self._move_refund(self._pending_refund(refund_id), RefundStatus.FAILED, reason)

    def record_refund_answer(self, refund_id: str, answer: ProcessorRefund) -> None:
        """The processor's answer to our refund call: final, or still PENDING with its id."""
        refund = self._pending_refund(refund_id)
        changed = bool(answer.reference) and refund.processor_reference != answer.reference
        refund.processor_reference = answer.reference or refund.processor_reference
        if not self._move_refund(refund, RefundStatus(answer.status.value), answer.failure_reason) and changed:
            self._record("refund.updated", refund_id=refund_id)  # accepted, still PENDING: its processor id
        self._touch()

    def apply_refund_view(self, view: ProcessorRefund, new_refund_id) -> bool:
        """Move a refund forward to the processor's view (a webhook); returns whether anything changed.

        The refund is found by our id (``view.refund_id``) or the processor's; a
        refund made elsewhere (the processor's dashboard) is recorded once."""
        refund = self._find_refund(view)
        if refund is None:
            return self._adopt_refund(view, new_refund_id)
        changed = False
        if view.reference and not refund.processor_reference:
            refund.processor_reference, changed = view.reference, True
        if self._move_refund(refund, RefundStatus(view.status.value), view.failure_reason):
            return True
        if changed:
            self._record("refund.updated", refund_id=refund.refund_id)
        return changed

    def _find_refund(self, view: ProcessorRefund) -> Refund | None:
        for refund in self.refunds:
            if (view.refund_id and refund.refund_id == view.refund_id) or (
                    view.reference and refund.processor_reference == view.reference):
                return refund
        return None

    def _adopt_refund(self, view: ProcessorRefund, new_refund_id) -> bool:
        if self.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED):
            return False
        # the same refund seen earlier only as a total (charge.refunded): give it its id
        for refund in self.refunds:
            if not refund.processor_reference and refund.amount == view.amount and refund.reason == _ELSEWHERE:
                refund.processor_reference = view.reference
                if not self._move_refund(refund, RefundStatus(view.status.value), view.failure_reason):
                    self._record("refund.updated", refund_id=refund.refund_id)
                return True
        status = RefundStatus(view.status.value)
        if not status.final and view.amount > self.amount_refundable:
            return False  # more than can be refunded: left to the auditor, never stored over the limit
        refund = Refund(new_refund_id(), view.amount, _ELSEWHERE, RefundStatus.PENDING, utcnow(), view.reference)
        self.refunds.append(refund)
        self._record("refund.created", refund_id=refund.refund_id)
        self._move_refund(refund, status, view.failure_reason)
        self._touch()
        return True

    def _move_refund(self, refund: Refund, status: RefundStatus, failure_reason: str = "") -> bool:
        """PENDING -> SUCCEEDED | FAILED | CANCELED, SUCCEEDED -> FAILED | CANCELED; nothing else."""
        old = refund.status
        if old is status or old.final or status is RefundStatus.PENDING:
            return False
        if status is RefundStatus.SUCCEEDED:
            self.amount_refunded += refund.amount
        elif old is RefundStatus.SUCCEEDED:
            self.amount_refunded -= refund.amount
        refund.status = status
        refund.failure_reason = failure_reason if status.final else ""
        self._follow_refunds()
        self._record(f"refund.{status.value.lower()}", refund_id=refund.refund_id)
        if status is RefundStatus.SUCCEEDED:
            self._record("payment.refunded" if self.status is Status.REFUNDED else "payment.partially_refunded",
                         refund_id=refund.refund_id)
        return True

    def _follow_refunds(self) -> None:
        if self.status in (Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED):
            if self.amount_captured and self.amount_refunded >= self.amount_captured:
                self.status = Status.REFUNDED
            else:
                self.status = Status.PARTIALLY_REFUNDED if self.amount_refunded else Status.CAPTURED
        self._touch()

    # ---- disputes -------------------------------------------------------

    def dispute(self, dispute_id: str) -> Dispute:
        for dispute in self.disputes:
            if dispute.dispute_id == dispute_id:
                return dispute
        raise errors.NotFound(f"dispute {dispute_id} not found on payment {self.payment_id}",
                              reason="DISPUTE_NOT_FOUND")

    def apply_dispute_view(self, view: ProcessorDispute, new_dispute_id) -> bool:
        """Record a dispute, or move it forward, from the processor's view; returns whether it changed."""
        dispute = next((d for d in self.disputes if d.processor_reference == view.reference), None)
        if dispute is None:
            now = utcnow()
            dispute = Dispute(new_dispute_id(), view.reference, view.amount, view.reason, view.status, now, now,
                              view.evidence_due_by, view.funds_withdrawn, view.funds_reinstated)
            self.disputes.append(dispute)
            self._recount_disputes()
            self._record("dispute.created", dispute_id=dispute.dispute_id)
            if dispute.status.final:
                self._record("dispute.closed", dispute_id=dispute.dispute_id)
            return True
        return self._move_dispute(dispute, view)

    def _move_dispute(self, dispute: Dispute, view: ProcessorDispute) -> bool:
        before = dataclasses.replace(dispute)
        if _DISPUTE_RANK[view.status] > _DISPUTE_RANK[dispute.status] and not dispute.status.final:
            dispute.status = view.status
        dispute.funds_withdrawn = dispute.funds_withdrawn or view.funds_withdrawn
        dispute.funds_reinstated = dispute.funds_reinstated or view.funds_reinstated
        if view.evidence_due_by and not dispute.status.final:
            dispute.evidence_due_by = view.evidence_due_by
        dispute.reason = dispute.reason or view.reason
        if dispute == before:
            return False
        dispute.updated_at = utcnow()
        self._recount_disputes()
        self._record(_dispute_event(before, dispute), dispute_id=dispute.dispute_id)
        return True

    def check_dispute_open(self, dispute_id: str) -> Dispute:
        dispute = self.dispute(dispute_id)
        if dispute.status.final:
            raise errors.DisputeClosed(
                f"dispute {dispute_id} is {dispute.status.value}; evidence and closing are only for open disputes"
            )
        return dispute

    def evidence_submitted(self, dispute_id: str, view: ProcessorDispute, *, submitted: bool) -> None:
        """The processor's answer to our evidence (or close) call on ``dispute_id``."""
        dispute = self.dispute(dispute_id)
        newly = submitted and not dispute.evidence_submitted
        dispute.evidence_submitted = dispute.evidence_submitted or submitted
        if not self._move_dispute(dispute, view) and newly:
            self._record("dispute.updated", dispute_id=dispute_id)
        dispute.updated_at = utcnow()
        self._touch()

    def _recount_disputes(self) -> None:
        self.amount_disputed = min(sum(d.amount_withheld for d in self.disputes), self.amount_captured)
        self._touch()

    # ---- a person must look ---------------------------------------------

    def require_review(self, reason: str) -> None:
        """Reconciliation cannot decide safely (e.g. a call older than the processor keeps keys)."""
        self.review_reason = reason
        self._touch()
        self._record("payment.review_required")

    def find_refund(self, refund_id: str) -> Refund:
        """The refund with this id; NotFound if the payment has none."""
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
        """Record refunds made elsewhere that only a total reports (charge.refunded).

        A total says nothing about which refund moved, so it confirms none of
        ours (a processor counts pending refunds in it too; their own events
        settle them) and only records what no known refund, in any state,
        accounts for: an older total, or one from before a refund failed, adds nothing."""
        if self.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED):
            return
        missing = min(total - sum(r.amount for r in self.refunds), self.amount_refundable)
        if missing > 0:
            refund = Refund(new_refund_id(), missing, _ELSEWHERE, RefundStatus.PENDING, utcnow())
            self.refunds.append(refund)
            self._record("refund.created", refund_id=refund.refund_id)
            self._move_refund(refund, RefundStatus.SUCCEEDED)

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
        refund = self.find_refund(refund_id)
        if refund.status is not RefundStatus.PENDING:
            raise errors.IllegalTransition(f"refund {refund_id} is already {refund.status.value}")
        return refund

    def _touch(self) -> None:
        self.updated_at = utcnow()

    def _record(self, type: str, *, refund_id: str = "", dispute_id: str = "") -> None:
        """Note a change for the event log (service.domain.events has the contract)."""
        self.events.append(Event(type, self.payment_id, refund_id=refund_id, dispute_id=dispute_id))
