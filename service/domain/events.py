"""Domain events: what happened to a payment, recorded by the aggregate itself.

The contract (shared by every state-changing feature; add new types to
``EVENT_TYPES`` in the same change that records them):

1. **Recording.** A ``Payment`` method that changes state calls
   ``self._record(type, refund_id=..., dispute_id=...)``, which appends an
   ``Event`` to ``payment.events``. Types are ``noun.verb_past``
   (``payment.captured``, ``refund.failed``, ``dispute.created``) and must be
   listed in ``EVENT_TYPES``; ``Event`` refuses any other. The domain knows
   nothing else: no ids, clocks, actors or storage here.
2. **Persisting.** The repository's ``add`` / ``save`` takes the recorded
   events off the payment (``payment.events`` is empty afterwards) and writes
   one row each to the ``events`` table *in the same transaction* as the
   payment row: ``evt_`` id, merchant, type, payment id, refund / dispute id,
   ``sequence`` (the payment's version after that event: the version grows by
   exactly one per event, so a payment's events are numbered 1, 2, 3... with
   no gap), the payment snapshot after the change, the actor, the request id
   and the time. A rolled-back transaction leaves no event; a committed
   change always leaves at least one (a save with nothing recorded is written
   as ``payment.updated``).
3. **Who.** The actor is taken from the calling context
   (``service.service_layer.audit``): ``api_key:<key id>`` (a managed key's
   ``key_...`` id, or a short hash of an API_KEYS key; never the key), ``processor:<name> event <event id>`` for
   processor webhooks, ``reconcile`` for reconciliation, ``system`` otherwise.
4. **Order.** Rows are appended under a per-merchant lock held until commit,
   so a merchant's events are numbered (``position``) in commit order; see
   docs/events.md for the exact guarantee readers and the webhook worker rely on.
"""

from __future__ import annotations

import dataclasses

from . import errors

PAYMENT_EVENT_TYPES = frozenset({
    "payment.created",            # written before the processor is asked (status PROCESSING)
    "payment.authorized",         # REQUIRES_CAPTURE
    "payment.captured",           # CAPTURED (manual capture, automatic capture, or seen at the processor)
    "payment.capture_requested",  # a capture is being sent (PROCESSING)
    "payment.cancel_requested",   # a cancel is being sent (PROCESSING)
    "payment.capture_failed",     # the processor refused the capture: back to REQUIRES_CAPTURE
    "payment.cancel_failed",      # the processor refused the cancel: back to REQUIRES_CAPTURE
    "payment.canceled",
    "payment.failed",             # declined
    "payment.partially_refunded",
    "payment.refunded",
    "payment.updated",            # any other change (e.g. the processor's reference learnt while pending)
    "payment.review_required",    # reconciliation cannot settle it safely: a person must look (review_reason)
})

REFUND_EVENT_TYPES = frozenset({
    "refund.created",    # PENDING: the amount is reserved
    "refund.succeeded",
    "refund.failed",     # refused, or returned later (even after succeeding): the amount is released
    "refund.canceled",   # canceled before the money moved: the amount is released
    "refund.updated",    # still PENDING, with something learnt (the processor's id for it)
})

DISPUTE_EVENT_TYPES = frozenset({
    "dispute.created",           # a chargeback (the amount is withheld) or an inquiry (WARNING_*)
    "dispute.updated",           # its status, deadline or evidence changed
    "dispute.funds_withdrawn",
    "dispute.funds_reinstated",
    "dispute.closed",            # WON, LOST or WARNING_CLOSED
})

EVENT_TYPES = PAYMENT_EVENT_TYPES | REFUND_EVENT_TYPES | DISPUTE_EVENT_TYPES


class UnknownEventType(ValueError):
    """A programming error: a type that is not in EVENT_TYPES."""


@dataclasses.dataclass(frozen=True)
class Event:
    """One change of a payment (or of one of its refunds or disputes)."""

    type: str
    payment_id: str
    refund_id: str = ""
    dispute_id: str = ""

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise UnknownEventType(f"{self.type!r} is not a known event type; add it to EVENT_TYPES")


class EventNotFound(errors.NotFound):
    """No such event for this merchant (or it was pruned)."""

    reason = "EVENT_NOT_FOUND"
