"""Stripe webhook events -> ProcessorEvent, verified with stripe's own code.

The signature (`Stripe-Signature`: `t=<time>,v1=<hmac>`) is checked over the
exact raw bytes by `stripe.WebhookSignature.verify_header` with a 300 s
tolerance; nothing in the body is trusted before that.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import stripe

from ...domain.errors import InvalidArgument
from ...domain.processor import ProcessorPayment, ProcessorStatus
from ...service_layer.webhooks import ProcessorEvent
from . import event_checks
from .stripe import dispute_from_stripe, payment_from_intent, refund_from_stripe

TOLERANCE_SECONDS = 300
INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.canceled", "payment_intent.payment_failed")
CHARGE_EVENTS = ("charge.refunded",)
# data.object is a Refund: its own lifecycle (pending -> succeeded | failed | canceled)
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
# data.object is a Dispute; the funds_* types also say which way money moved
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                  "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated")


def _not_from_the_future(signature: str, now: float | None = None) -> None:
    """stripe's verify_header refuses a timestamp older than the tolerance, not one ahead of it."""
    stamps = [value.strip() for key, _, value in (item.partition("=") for item in signature.split(","))
              if key.strip() == "t"]
    current = time.time() if now is None else now
    if any(stamp.isdigit() and int(stamp) > current + TOLERANCE_SECONDS for stamp in stamps):
        raise InvalidArgument("stripe-signature", f"is dated more than {TOLERANCE_SECONDS} s in the future")


def verify(payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The event as a dict, or InvalidArgument naming what is wrong."""
    if not signature:
        raise InvalidArgument("stripe-signature", "header is missing")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("body", "is not UTF-8 JSON") from None
    _not_from_the_future(signature)
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        raise InvalidArgument(
            "stripe-signature", f"does not match the body, or is older than {TOLERANCE_SECONDS} s") from None
    return event_checks.parse(payload, "a Stripe event")


def _ours(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    metadata = obj.get("metadata") or {}
    if isinstance(metadata, Mapping) and metadata.get("merchant_id") and metadata.get("payment_id"):
        return str(metadata["merchant_id"]), str(metadata["payment_id"])
    return None


def _charge_view(charge: Mapping[str, Any]) -> ProcessorPayment:
    return ProcessorPayment(
        reference=str(charge.get("payment_intent") or ""),
        status=ProcessorStatus.CAPTURED,
        amount=int(charge.get("amount") or 0),
        amount_captured=int(charge.get("amount_captured") or charge.get("amount") or 0),
        amount_refunded=int(charge.get("amount_refunded") or 0),
    )


def to_processor_event(event: Mapping[str, Any]) -> ProcessorEvent:
    kind, obj = event["type"], event["data"]["object"]
    try:
        if kind in INTENT_EVENTS and obj.get("id"):
            return ProcessorEvent(event["id"], kind, "stripe", payment_from_intent(obj), _ours(obj))
        if kind in CHARGE_EVENTS and obj.get("payment_intent"):
            return ProcessorEvent(event["id"], kind, "stripe", _charge_view(obj), _ours(obj))
        if kind in REFUND_EVENTS and obj.get("id") and obj.get("payment_intent"):
            refund = refund_from_stripe(obj)
            return ProcessorEvent(event["id"], kind, "stripe", refund=refund, reference=refund.payment_reference)
        if kind in DISPUTE_EVENTS and obj.get("id") and obj.get("payment_intent"):
            dispute = dispute_from_stripe(obj, withdrawn=kind.endswith("funds_withdrawn"),
                                          reinstated=kind.endswith("funds_reinstated"))
            return ProcessorEvent(event["id"], kind, "stripe", dispute=dispute, reference=dispute.payment_reference)
    except (TypeError, ValueError, KeyError, AttributeError):
        raise InvalidArgument("body", f"the {kind} event's data.object is malformed") from None
    return ProcessorEvent(event["id"], kind, "stripe")
