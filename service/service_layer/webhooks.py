"""Processor events (webhooks) reconcile payment state, each event exactly once.

The event id is recorded in the same transaction as the event's effect, with
the payment row locked, so concurrent or repeated deliveries of one event
apply once. An event carries the processor's view of one object (the payment,
one refund, or one dispute), and applying a view only moves that object
forward, so out-of-order deliveries are safe too: an older view is a no-op.
Every processor's webhook endpoint (Stripe's, the in-house processor's) ends
here after verifying its own signature.
"""

from __future__ import annotations

import dataclasses

from ..domain.ids import new_dispute_id, new_refund_id
from ..domain.model import Payment
from ..domain.processor import ProcessorDispute, ProcessorPayment, ProcessorRefund
from .audit import acting_as, processor_actor
from .dependencies import Dependencies


@dataclasses.dataclass(frozen=True)
class ProcessorEvent:
    event_id: str
    type: str
    processor: str
    # The processor's view of the payment; None for event types we do not act on.
    view: ProcessorPayment | None = None
    # (merchant_id, payment_id) when the event names our payment (Stripe metadata).
    ours: tuple[str, str] | None = None
    # Or the view of one refund or one dispute of the payment the processor calls ``reference``.
    refund: ProcessorRefund | None = None
    dispute: ProcessorDispute | None = None
    reference: str = ""

    @property
    def payment_reference(self) -> str:
        return self.view.reference if self.view is not None else self.reference

    @property
    def actionable(self) -> bool:
        return self.view is not None or self.refund is not None or self.dispute is not None

    def apply(self, payment: Payment) -> bool:
        """Apply the event's view to ``payment``; whether anything changed."""
        if self.refund is not None:
            return payment.apply_refund_view(self.refund, new_refund_id)
        if self.dispute is not None:
            return payment.apply_dispute_view(self.dispute, new_dispute_id)
        assert self.view is not None
        return payment.apply_processor_view(self.view, new_refund_id)


async def apply_event(event: ProcessorEvent, deps: Dependencies) -> str:
    """Apply an event; returns its outcome: applied, unchanged, duplicate, ignored or unknown_payment."""
    with acting_as(processor_actor(event.processor, event.event_id)):
        return await _apply(event, deps)


async def _apply(event: ProcessorEvent, deps: Dependencies) -> str:
    if not event.actionable:
        return await _record_only(event, "ignored", deps)
    located = event.ours or await _find(event, deps)
    if located is None:
        return await _record_only(event, "unknown_payment", deps)
    merchant_id, payment_id = located
    async with deps.uow() as uow:
        payment = await uow.payments.get(merchant_id, payment_id, for_update=True)
        if not _belongs(payment, event):
            payment = None
        else:
            changed = event.apply(payment)
            outcome = "applied" if changed else "unchanged"
            if not await uow.webhook_events.record(event.event_id, processor=event.processor, type=event.type,
                                                   outcome=outcome, payment_id=payment_id):
                return "duplicate"
            if changed:
                await uow.payments.save(payment)
            await uow.commit()
    if payment is None:
        return await _record_only(event, "unknown_payment", deps)
    if changed:
        await deps.cache.changed(payment)
    return outcome


def _belongs(payment, event: ProcessorEvent) -> bool:
    """The event is about this payment: same processor, same processor id once known."""
    return payment is not None and payment.processor == event.processor and (
        not payment.processor_reference or payment.processor_reference == event.payment_reference)


async def _find(event: ProcessorEvent, deps: Dependencies) -> tuple[str, str] | None:
    if not event.payment_reference:
        return None
    async with deps.uow() as uow:
        return await uow.payments.find_by_reference(event.processor, event.payment_reference)


async def _record_only(event: ProcessorEvent, outcome: str, deps: Dependencies) -> str:
    async with deps.uow() as uow:
        recorded = await uow.webhook_events.record(event.event_id, processor=event.processor, type=event.type,
                                                   outcome=outcome, payment_id="")
        await uow.commit()
    return outcome if recorded else "duplicate"
