"""Stripe's objects in the service's terms: PaymentIntent, Refund and Dispute -> the port's views.

Pure functions over the plain dicts the official library returns (``to_dict()``)
and webhook events carry, so the adapter (stripe.py) and the webhook module
(stripe_events.py) read Stripe's objects one way. ``redact`` keeps keys, auth
headers and anything shaped like a card number out of every message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from service.domain.errors import ProcessorDeclined, ProcessorInvalidRequest, ProcessorOutcomeUnknown
from service.domain.processor import (
    DisputeStatus,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
    ProcessorRefundStatus,
    ProcessorStatus,
)

PAYMENT_INTENT_STATUSES: dict[str, ProcessorStatus] = {
    "requires_capture": ProcessorStatus.AUTHORIZED,
    "succeeded": ProcessorStatus.CAPTURED,
    "canceled": ProcessorStatus.CANCELED,
    "requires_payment_method": ProcessorStatus.FAILED,
    "requires_action": ProcessorStatus.FAILED,
    "requires_confirmation": ProcessorStatus.PENDING,
    "processing": ProcessorStatus.PENDING,
}


# ---- redaction ---------------------------------------------------------------------

_SECRET_LOOKING = re.compile(
    r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_]+"  # API keys and webhook secrets
    r"|\b(?:Bearer|Basic)\s+\S+"  # authorization headers echoed back
    r"|\b\d(?:[ -]?\d){11,18}\b"  # anything shaped like a card number
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets or anything shaped like a key or card number."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_LOOKING.sub("[redacted]", text)


# ---- PaymentIntent -> ProcessorPayment ------------------------------------------------------


def _failure(intent: Mapping[str, Any]) -> tuple[str, str]:
    if intent.get("status") == "requires_action":
        return (
            "authentication_required",
            "the payment needs customer authentication, which this service cannot do",
        )
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or "payment_failed"
    return code, redact(error.get("message") or "the payment method was declined")


def _amount_refunded(intent: Mapping[str, Any]) -> int:
    charge = intent.get("latest_charge")
    return charge.get("amount_refunded", 0) if isinstance(charge, Mapping) else 0


def payment_from_intent(intent: Mapping[str, Any]) -> ProcessorPayment:
    """The processor's view of a PaymentIntent (as a plain dict)."""
    status = PAYMENT_INTENT_STATUSES.get(intent.get("status", ""), ProcessorStatus.PENDING)
    code, message = _failure(intent) if status is ProcessorStatus.FAILED else ("", "")
    return ProcessorPayment(
        reference=intent["id"],
        status=status,
        amount=intent.get("amount", 0),
        amount_captured=intent.get("amount_received") or 0 if status is ProcessorStatus.CAPTURED else 0,
        amount_refunded=_amount_refunded(intent),
        failure_code=code,
        failure_message=message,
    )


def _expect(payment: ProcessorPayment, wanted: tuple[ProcessorStatus, ...], action: str) -> ProcessorPayment:
    """``payment`` if its status is one of ``wanted``; else the matching ProcessorError."""
    if payment.status in wanted:
        return payment
    if payment.status is ProcessorStatus.PENDING:
        raise ProcessorOutcomeUnknown(
            f"stripe payment {payment.reference} is still processing after {action}"
        )
    if action == "authorize" and payment.status is ProcessorStatus.FAILED:
        raise ProcessorDeclined(payment.failure_message, code=payment.failure_code)
    raise ProcessorInvalidRequest(
        f"stripe left payment {payment.reference} {payment.status.value} after {action}"
    )


# authorize also returns PENDING ("processing"): the caller keeps the reference and reconciles with retrieve.
_AUTHORIZE_RESULTS = (ProcessorStatus.AUTHORIZED, ProcessorStatus.CAPTURED, ProcessorStatus.PENDING)


REFUND_STATUSES: dict[str, ProcessorRefundStatus] = {
    "pending": ProcessorRefundStatus.PENDING,  # accepted, not moved yet: it may still fail
    "requires_action": ProcessorRefundStatus.PENDING,
    "succeeded": ProcessorRefundStatus.SUCCEEDED,
    "failed": ProcessorRefundStatus.FAILED,
    "canceled": ProcessorRefundStatus.CANCELED,
}


def refund_from_stripe(refund: Mapping[str, Any]) -> ProcessorRefund:
    """The processor's view of a Refund (as a plain dict); an unknown status counts as PENDING."""
    metadata = refund.get("metadata") or {}
    intent = refund.get("payment_intent") or ""
    return ProcessorRefund(
        reference=refund["id"],
        amount=int(refund.get("amount") or 0),
        status=REFUND_STATUSES.get(refund.get("status") or "", ProcessorRefundStatus.PENDING),
        failure_reason=str(refund.get("failure_reason") or ""),
        refund_id=str(metadata.get("refund_id") or "") if isinstance(metadata, Mapping) else "",
        payment_reference=intent if isinstance(intent, str) else str(intent.get("id", "")),
    )


DISPUTE_STATUSES: dict[str, DisputeStatus] = {
    "warning_needs_response": DisputeStatus.WARNING_NEEDS_RESPONSE,
    "warning_under_review": DisputeStatus.WARNING_UNDER_REVIEW,
    "warning_closed": DisputeStatus.WARNING_CLOSED,
    "needs_response": DisputeStatus.NEEDS_RESPONSE,
    "under_review": DisputeStatus.UNDER_REVIEW,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
    "prevented": DisputeStatus.WON,  # stopped before money moved
}


def dispute_from_stripe(dispute: Mapping[str, Any], *, withdrawn: bool = False,
                        reinstated: bool = False) -> ProcessorDispute:
    """The processor's view of a Dispute (a plain dict). Its balance transactions tell whether
    funds were withdrawn (negative) or reinstated (positive); so do the funds_* event types."""
    status = DISPUTE_STATUSES.get(str(dispute.get("status") or ""))
    if status is None:
        raise ValueError(f"unknown dispute status {dispute.get('status')!r}")
    for transaction in dispute.get("balance_transactions") or ():
        amount = transaction.get("amount", 0) if isinstance(transaction, Mapping) else 0
        withdrawn, reinstated = withdrawn or amount < 0, reinstated or amount > 0
    due = (dispute.get("evidence_details") or {}).get("due_by")
    intent = dispute.get("payment_intent") or ""
    return ProcessorDispute(
        reference=str(dispute["id"]),
        payment_reference=intent if isinstance(intent, str) else str(intent.get("id", "")),
        amount=int(dispute.get("amount") or 0),
        status=status,
        reason=str(dispute.get("reason") or ""),
        evidence_due_by=datetime.fromtimestamp(int(due), UTC) if due else None,
        funds_withdrawn=withdrawn,
        funds_reinstated=reinstated,
    )
