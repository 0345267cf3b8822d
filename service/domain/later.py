"""Money that moves after the request: a Payment's refund lifecycle, disputes and review flag.

Mixed into service.domain.model.Payment (its docstring has the state machine).
Every method applies the processor's *view* by comparing states, so a
duplicate or an older view is a no-op, and records what changed with
``_record`` (service.domain.events).
"""

from __future__ import annotations

import dataclasses

from . import errors
from .processor import ProcessorDispute, ProcessorRefund
from .values import _DISPUTE_RANK, _ELSEWHERE, Dispute, Refund, RefundStatus, Status, _dispute_events, utcnow


class MoneyAfterTheRequest:
    """Payment's methods for what happens after a call was answered (webhooks, reconciliation)."""

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
            for kind in _dispute_events(None, dispute):
                self._record(kind, dispute_id=dispute.dispute_id)
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
        for kind in _dispute_events(before, dispute):
            self._record(kind, dispute_id=dispute.dispute_id)
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
