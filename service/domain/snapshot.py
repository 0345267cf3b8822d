"""Payments as plain JSON-able dicts: the stored response of an idempotent request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .model import CaptureMethod, Payment, PendingAction, Refund, RefundStatus, Status


def to_snapshot(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "merchant_id": payment.merchant_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status.value,
        "capture_method": payment.capture_method.value,
        "processor": payment.processor,
        "payment_method": payment.payment_method,
        "customer_id": payment.customer_id,
        "description": payment.description,
        "metadata": dict(payment.metadata),
        "processor_reference": payment.processor_reference,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "refunds": [
            {
                "refund_id": r.refund_id,
                "amount": r.amount,
                "reason": r.reason,
                "status": r.status.value,
                "created_at": r.created_at.isoformat(),
                "processor_reference": r.processor_reference,
            }
            for r in payment.refunds
        ],
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "pending_action": payment.pending_action.value if payment.pending_action else None,
        "pending_amount": payment.pending_amount,
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
        "version": payment.version,
    }


def from_snapshot(data: dict[str, Any]) -> Payment:
    fields = dict(data)
    fields["status"] = Status(fields["status"])
    fields["capture_method"] = CaptureMethod(fields["capture_method"])
    fields["pending_action"] = PendingAction(fields["pending_action"]) if fields["pending_action"] else None
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    fields["updated_at"] = datetime.fromisoformat(fields["updated_at"])
    fields["refunds"] = [
        Refund(r["refund_id"], r["amount"], r["reason"], RefundStatus(r["status"]),
               datetime.fromisoformat(r["created_at"]), r.get("processor_reference", ""))
        for r in data["refunds"]
    ]
    return Payment(**fields)
