"""Reconciliation: finish payments left waiting on a processor.

A payment stays PROCESSING (or a refund PENDING) when a processor's answer was
lost: a timeout, a crash, a restart. `payment-service reconcile` (a CronJob in
the chart) asks each payment's processor and settles it. Re-sending uses the
same processor idempotency key as the original call, so nothing happens twice;
capture and cancel first look the payment up, so a call that did go through is
recorded rather than repeated.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from ..domain import errors
from ..domain.ids import new_refund_id
from ..domain.model import Payment, PendingAction, Status, utcnow
from ..domain.processor import ProcessorStatus
from .audit import RECONCILE, acting_as
from .dependencies import Dependencies
from .handlers import send_pending, settle
from .pending import PaymentCall, pending_calls

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ReconcileReport:
    examined: int = 0
    settled: int = 0
    still_pending: int = 0
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
                done = await _reconcile_one(merchant_id, payment_id, deps)
        except (errors.ProcessorError, errors.Unavailable) as exc:
            log.warning("reconcile failed", extra={"payment_id": payment_id, "reason": exc.reason})
            report.errors += 1
            continue
        if done:
            report.settled += 1
        else:
            report.still_pending += 1
    return report


async def _reconcile_one(merchant_id: str, payment_id: str, deps: Dependencies) -> bool:
    async with deps.uow() as uow:
        payment = await uow.payments.get(merchant_id, payment_id)
    if payment is None:
        return True
    if payment.status is Status.PROCESSING and payment.processor_reference:
        payment = await _ask_the_processor(payment, deps)
    for call in pending_calls(payment):
        payment = await send_pending(payment, call, deps)
    return not pending_calls(payment)


async def _ask_the_processor(payment: Payment, deps: Dependencies) -> Payment:
    """Settle the payment's own step from the processor's view when it tells the answer."""
    call = PaymentCall(payment.pending_action)
    remote = await deps.processors.get(payment.processor).retrieve(payment.processor_reference)
    if call.action is PendingAction.AUTHORIZE:
        # The processor answered "pending" and gave its id: ask it, rather than replay
        # a request whose stored answer is that same "pending".
        return await settle(payment, call, deps, lambda p: p.apply_processor_view(remote, new_refund_id))
    done_status, complete = _DONE[call.action]
    if remote.status is done_status:  # it went through: record it rather than send it again
        return await settle(payment, call, deps, complete)
    return payment


# A capture or cancel the processor shows as done, and how to record it.
_DONE = {
    PendingAction.CAPTURE: (ProcessorStatus.CAPTURED, Payment.complete_capture),
    PendingAction.CANCEL: (ProcessorStatus.CANCELED, Payment.complete_cancel),
}


async def prune_idempotency_keys(deps: Dependencies, retention: timedelta) -> int:
    async with deps.uow() as uow:
        count = await uow.idempotency.prune(utcnow() - retention)
        await uow.commit()
    return count
