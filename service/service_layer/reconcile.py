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
from ..domain.model import PendingAction, RefundStatus, Status, utcnow
from ..domain.processor import ProcessorStatus
from .audit import RECONCILE, acting_as
from .dependencies import Dependencies
from .handlers import send_pending, settle

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
    if payment.status is Status.PROCESSING:
        if payment.pending_action is PendingAction.AUTHORIZE and payment.processor_reference:
            # The processor answered "pending" and gave its id: ask it, rather than replay
            # a request whose stored answer is that same "pending".
            remote = await deps.processors.get(payment.processor).retrieve(payment.processor_reference)
            payment = await settle(payment, "", deps, lambda p: p.apply_processor_view(remote, new_refund_id))
        elif payment.pending_action in (PendingAction.CAPTURE, PendingAction.CANCEL) and payment.processor_reference:
            remote = await deps.processors.get(payment.processor).retrieve(payment.processor_reference)
            if _already_done(payment.pending_action, remote.status):
                apply = (lambda p: p.complete_capture()) if payment.pending_action is PendingAction.CAPTURE \
                    else (lambda p: p.complete_cancel())
                payment = await settle(payment, "", deps, apply)
        if payment.status is Status.PROCESSING:
            payment = await send_pending(payment, "", "", deps)
    for refund in [r for r in payment.refunds if r.status is RefundStatus.PENDING]:
        payment = await send_pending(payment, refund.refund_id, "", deps)
    return payment.status is not Status.PROCESSING and not any(
        r.status is RefundStatus.PENDING for r in payment.refunds
    )


def _already_done(action: PendingAction | None, remote: ProcessorStatus) -> bool:
    return (action is PendingAction.CAPTURE and remote is ProcessorStatus.CAPTURED) or (
        action is PendingAction.CANCEL and remote is ProcessorStatus.CANCELED
    )


async def prune_idempotency_keys(deps: Dependencies, retention: timedelta) -> int:
    async with deps.uow() as uow:
        count = await uow.idempotency.prune(utcnow() - retention)
        await uow.commit()
    return count
