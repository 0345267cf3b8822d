"""Reconciliation: finish payments left waiting on a processor, looking before re-sending.

A payment stays PROCESSING (or a refund PENDING) when a processor's answer was
lost: a timeout, a crash, a restart. `payment-service reconcile` (a CronJob in
the chart) finishes each one, in this order:

1. **Look.** Ask the processor what happened to the call: the payment by its
   processor id, or (when we never learned it) by the id we sent with it
   (``find_payment``: Stripe's PaymentIntent search on metadata, the in-house
   ledger); a refund by the refund id we sent (``find_refund``: Stripe's
   Refund list, the in-house ledger). What is found is recorded, and nothing
   is re-sent.
2. **Re-send, only when safe.** With no trace at the processor, the call is
   re-sent with its original idempotency key, but only while it is younger
   than the processor's idempotency-key retention (each adapter declares
   ``idempotency_retention``; 24 h for Stripe). Within it, a re-send that
   did reach the processor replays; past it, the processor would take the
   same key as a new request and could charge or refund twice.
3. **Otherwise, ask a person.** An authorization or refund older than the
   retention with no trace is marked (``review_reason``), left out of later
   runs, counted by the ``payment_requiring_review`` gauge (alert
   PaymentRequiresReview), and listed by ``payment-service reconcile --report``.

Capture and cancel act on an existing processor payment, which a processor
captures or cancels once however often asked, so they are re-sent after
looking whatever their age.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from ..domain import errors
from ..domain.ids import new_refund_id
from ..domain.model import Payment, PendingAction, Refund, RefundStatus, Status, utcnow
from ..domain.processor import PaymentProcessor, ProcessorStatus
from .audit import RECONCILE, acting_as
from .dependencies import Dependencies
from .handlers import send_pending, settle
from .pending import PaymentCall, RefundCall

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ReconcileReport:
    examined: int = 0
    settled: int = 0
    still_pending: int = 0
    flagged: int = 0
    resent: int = 0
    found_at_processor: int = 0
    errors: int = 0


async def reconcile(deps: Dependencies, *, older_than: timedelta = timedelta(seconds=60),
                    limit: int = 500) -> ReconcileReport:
    report = ReconcileReport()
    async with deps.uow() as uow:
        candidates = await uow.payments.awaiting_processor(utcnow() - older_than, limit)
    for merchant_id, payment_id in candidates:
        report.examined += 1
        try:
            with acting_as(RECONCILE):
                done = await _reconcile_one(merchant_id, payment_id, deps, report)
        except (errors.ProcessorError, errors.Unavailable) as exc:
            log.warning("reconcile failed", extra={"payment_id": payment_id, "reason": exc.reason})
            report.errors += 1
            continue
        if done is None:
            report.flagged += 1
        elif done:
            report.settled += 1
        else:
            report.still_pending += 1
    return report


async def _reconcile_one(merchant_id: str, payment_id: str, deps: Dependencies,
                         report: ReconcileReport) -> bool | None:
    """True when settled, False when still waiting, None when marked for a person."""
    async with deps.uow() as uow:
        payment = await uow.payments.get(merchant_id, payment_id)
    if payment is None:
        return True
    processor = deps.processors.get(payment.processor)
    if payment.status is Status.PROCESSING:
        payment = await _finish_payment_call(payment, processor, deps, report)
    for refund in payment.pending_refunds:
        if payment.review_reason:
            break
        payment = await _finish_refund(payment, refund, processor, deps, report)
    if payment.review_reason:
        return None
    return payment.status is not Status.PROCESSING and not any(
        r.status is RefundStatus.PENDING for r in payment.refunds
    )


async def _finish_payment_call(payment: Payment, processor: PaymentProcessor, deps: Dependencies,
                               report: ReconcileReport) -> Payment:
    action = payment.pending_action
    call = PaymentCall(action)
    if action is PendingAction.AUTHORIZE:
        remote = (await processor.retrieve(payment.processor_reference) if payment.processor_reference
                  else await processor.find_payment(payment.payment_id))
        if remote is not None:
            report.found_at_processor += 1
            return await settle(payment, call, deps, lambda p: p.apply_processor_view(remote, new_refund_id))
        if _too_old(payment.created_at, processor):
            return await _flag(payment, call, _no_trace("authorization", payment.created_at, processor), deps)
    elif payment.processor_reference:
        remote = await processor.retrieve(payment.processor_reference)
        done_status, complete = _DONE[action]
        if remote.status is done_status:  # it went through: record it rather than send it again
            report.found_at_processor += 1
            return await settle(payment, call, deps, complete)
    report.resent += 1
    return await send_pending(payment, call, deps)


async def _finish_refund(payment: Payment, refund: Refund, processor: PaymentProcessor, deps: Dependencies,
                         report: ReconcileReport) -> Payment:
    call = RefundCall(refund.refund_id)
    remote = await processor.find_refund(payment.processor_reference, refund.refund_id)
    if remote is not None:
        remote = dataclasses.replace(remote, refund_id=refund.refund_id)  # found for this refund
        report.found_at_processor += 1
        return await settle(payment, call, deps, lambda p: p.apply_refund_view(remote, new_refund_id))
    if refund.processor_reference:
        return payment  # the processor answered "pending" with its id; its webhook settles it
    if _too_old(refund.created_at, processor):
        return await _flag(payment, call, _no_trace(f"refund {refund.refund_id}", refund.created_at, processor),
                           deps)
    report.resent += 1
    return await send_pending(payment, call, deps)


def _too_old(sent_at: datetime, processor: PaymentProcessor) -> bool:
    return utcnow() - sent_at >= processor.idempotency_retention


def _no_trace(what: str, sent_at: datetime, processor: PaymentProcessor) -> str:
    age = int((utcnow() - sent_at).total_seconds())
    retention = int(processor.idempotency_retention.total_seconds())
    return (f"{what} sent {age} s ago; {processor.name} has no trace of it and keeps idempotency keys"
            f" {retention} s, so re-sending could charge or refund twice: check at the processor and"
            f" settle by hand")


async def _flag(payment: Payment, call: PaymentCall | RefundCall, reason: str, deps: Dependencies) -> Payment:
    log.warning("payment requires review", extra={"payment_id": payment.payment_id, "reason": reason})
    return await settle(payment, call, deps, lambda p: p.require_review(reason))


# A capture or cancel the processor shows as done, and how to record it.
_DONE = {
    PendingAction.CAPTURE: (ProcessorStatus.CAPTURED, Payment.complete_capture),
    PendingAction.CANCEL: (ProcessorStatus.CANCELED, Payment.complete_cancel),
}


async def requiring_review(deps: Dependencies, limit: int = 1000) -> list[dict]:
    """The payments marked for a person, as the `reconcile --report` listing prints them."""
    async with deps.uow() as uow:
        flagged = await uow.payments.requiring_review(limit)
    return [{"payment_id": p.payment_id, "merchant_id": p.merchant_id, "processor": p.processor,
             "status": p.status.value, "pending_action": p.pending_action.value if p.pending_action else None,
             "pending_refunds": [r.refund_id for r in p.refunds if r.status is RefundStatus.PENDING],
             "amount": p.amount, "currency": p.currency, "review_reason": p.review_reason,
             "updated_at": p.updated_at.isoformat()} for p in flagged]


async def prune_idempotency_keys(deps: Dependencies, retention: timedelta) -> int:
    async with deps.uow() as uow:
        count = await uow.idempotency.prune(utcnow() - retention)
        await uow.commit()
    return count
