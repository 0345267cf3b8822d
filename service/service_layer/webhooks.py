"""Processor events (webhooks) reconcile payment state, each event exactly once.

The event id is recorded in the same transaction as the event's effect, with
the payment row locked, so concurrent or repeated deliveries of one event
apply once. Applying the processor's view only moves a payment forward, so
out-of-order deliveries are safe too.
"""

from __future__ import annotations

import dataclasses

from ..domain.ids import new_refund_id
from ..domain.processor import ProcessorPayment
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


async def apply_event(event: ProcessorEvent, deps: Dependencies) -> str:
    """Apply an event; returns its outcome: applied, unchanged, duplicate, ignored or unknown_payment."""
    with acting_as(processor_actor(event.processor, event.event_id)):
        return await _apply(event, deps)


async def _apply(event: ProcessorEvent, deps: Dependencies) -> str:
    if event.view is None:
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
            changed = payment.apply_processor_view(event.view, new_refund_id)
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
        not payment.processor_reference or payment.processor_reference == event.view.reference)


async def _find(event: ProcessorEvent, deps: Dependencies) -> tuple[str, str] | None:
    async with deps.uow() as uow:
        return await uow.payments.find_by_reference(event.processor, event.view.reference)


async def _record_only(event: ProcessorEvent, outcome: str, deps: Dependencies) -> str:
    async with deps.uow() as uow:
        recorded = await uow.webhook_events.record(event.event_id, processor=event.processor, type=event.type,
                                                   outcome=outcome, payment_id="")
        await uow.commit()
    return outcome if recorded else "duplicate"
