"""Disputes: the merchant's two moves (evidence, accepting the loss).

Disputes are opened and decided by the customer's bank; the processor tells us
through webhooks (service_layer.webhooks). A merchant can answer an open one:

1. read the payment and check the dispute is open (no lock held while the
   processor is called);
2. call the processor with an idempotency key derived from the dispute and the
   request, so a retry is the same operation there;
3. lock the payment and record the processor's view of the dispute. Recording
   moves the dispute forward only, so a retry or a webhook that got there
   first changes nothing twice.

A crash between 2 and 3 leaves the dispute as it was here; the processor's
webhook (charge.dispute.updated / closed) brings it forward.
"""

from __future__ import annotations

from ..domain import errors
from ..domain.model import Payment
from ..domain.processor import ProcessorDispute
from .commands import CloseDispute, SubmitDisputeEvidence
from .dependencies import Dependencies
from .handlers import fingerprint
from .validation import check_dispute_id, check_evidence, check_idempotency_key, check_payment_id


async def submit_dispute_evidence(cmd: SubmitDisputeEvidence, deps: Dependencies) -> Payment:
    _check(cmd.payment_id, cmd.dispute_id, cmd.idempotency_key)
    check_evidence(cmd.evidence)
    payment = await _open_dispute_of(cmd.merchant_id, cmd.payment_id, cmd.dispute_id, deps)
    dispute = payment.dispute(cmd.dispute_id)
    key = f"{cmd.dispute_id}:evidence:" + (cmd.idempotency_key or fingerprint(
        {"evidence": cmd.evidence.fields(), "submit": cmd.submit})[:32])
    view = await deps.processors.get(payment.processor).update_dispute(
        dispute.processor_reference, cmd.evidence, submit=cmd.submit, idempotency_key=key)
    return await _record(payment, cmd.dispute_id, view, deps, submitted=cmd.submit)


async def close_dispute(cmd: CloseDispute, deps: Dependencies) -> Payment:
    _check(cmd.payment_id, cmd.dispute_id, cmd.idempotency_key)
    payment = await _open_dispute_of(cmd.merchant_id, cmd.payment_id, cmd.dispute_id, deps)
    dispute = payment.dispute(cmd.dispute_id)
    view = await deps.processors.get(payment.processor).close_dispute(
        dispute.processor_reference, idempotency_key=f"{cmd.dispute_id}:close")
    return await _record(payment, cmd.dispute_id, view, deps, submitted=False)


def _check(payment_id: str, dispute_id: str, key: str) -> None:
    check_payment_id(payment_id)
    check_dispute_id(dispute_id)
    check_idempotency_key(key, "request_id")


async def _open_dispute_of(merchant_id: str, payment_id: str, dispute_id: str, deps: Dependencies) -> Payment:
    async with deps.uow() as uow:
        payment = await uow.payments.get(merchant_id, payment_id)
    if payment is None:
        raise errors.NotFound(f"payment {payment_id} not found")
    payment.check_dispute_open(dispute_id)
    return payment


async def _record(before: Payment, dispute_id: str, view: ProcessorDispute, deps: Dependencies, *,
                  submitted: bool) -> Payment:
    async with deps.uow() as uow:
        payment = await uow.payments.get(before.merchant_id, before.payment_id, for_update=True)
        assert payment is not None, "a payment cannot disappear"
        payment.evidence_submitted(dispute_id, view, submitted=submitted)
        await uow.payments.save(payment)
        await uow.commit()
    await deps.cache.changed(payment)
    return payment
