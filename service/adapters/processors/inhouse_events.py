"""In-house processor webhook events -> ProcessorEvent (the receiving side).

The in-house simulator sends events like Stripe does (see its sender):

    POST /webhooks/inhouse
    Inhouse-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
    {"id": "ihevt_...", "type": "refund.failed", "created": <unix>,
     "data": {"object": {"object": "refund", "id": "ih_re_...", "payment": "ih_...", ...}}}

Event types: refund.updated, refund.failed (object: refund);
dispute.created, dispute.updated, dispute.closed, dispute.funds_withdrawn,
dispute.funds_reinstated (object: dispute). The signature is checked over the
exact bytes before anything in the body is trusted; the rest of the path
(exactly once, forward only) is the same as Stripe's: service_layer.webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...domain.errors import InvalidArgument
from ...domain.processor import DisputeStatus, ProcessorDispute, ProcessorRefund, ProcessorRefundStatus
from ...service_layer.webhooks import ProcessorEvent
from . import event_checks, signing

SIGNATURE_HEADER = "inhouse-signature"
REFUND_EVENTS = ("refund.updated", "refund.failed")
DISPUTE_EVENTS = ("dispute.created", "dispute.updated", "dispute.closed", "dispute.funds_withdrawn",
                  "dispute.funds_reinstated")


def verify(payload: bytes, header: str, secret: str) -> dict[str, Any]:
    """The event as a dict, or InvalidArgument naming what is wrong."""
    if not header:
        raise InvalidArgument(SIGNATURE_HEADER, "header is missing")
    if not signing.verify(header, payload, secret):
        raise InvalidArgument(
            SIGNATURE_HEADER, f"does not match the body, or is dated more than {signing.TOLERANCE_SECONDS} s "
                              "from now (past or future)")
    return event_checks.parse(payload, "an in-house event")


def refund_view(obj: Mapping[str, Any]) -> ProcessorRefund:
    return ProcessorRefund(
        reference=str(obj["id"]), amount=int(obj["amount"]), status=ProcessorRefundStatus(obj["status"]),
        failure_reason=str(obj.get("failure_reason") or ""), refund_id=str(obj.get("refund_id") or ""),
        payment_reference=str(obj["payment"]))


def dispute_view(obj: Mapping[str, Any]) -> ProcessorDispute:
    due = obj.get("evidence_due_by")
    return ProcessorDispute(
        reference=str(obj["id"]), payment_reference=str(obj["payment"]), amount=int(obj["amount"]),
        status=DisputeStatus(obj["status"]), reason=str(obj.get("reason") or ""),
        evidence_due_by=datetime.fromtimestamp(int(due), UTC) if due else None,
        funds_withdrawn=bool(obj.get("funds_withdrawn")), funds_reinstated=bool(obj.get("funds_reinstated")))


def to_processor_event(event: Mapping[str, Any]) -> ProcessorEvent:
    kind, obj = event["type"], event["data"]["object"]
    try:
        if kind in REFUND_EVENTS:
            refund = refund_view(obj)
            return ProcessorEvent(event["id"], kind, "inhouse", refund=refund, reference=refund.payment_reference)
        if kind in DISPUTE_EVENTS:
            dispute = dispute_view(obj)
            return ProcessorEvent(event["id"], kind, "inhouse", dispute=dispute,
                                  reference=dispute.payment_reference)
    except (TypeError, ValueError, KeyError):
        raise InvalidArgument("body", f"the {kind} event's data.object is malformed") from None
    return ProcessorEvent(event["id"], kind, "inhouse")
