"""Payments as plain JSON-able dicts: the stored response of an idempotent request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .model import CaptureMethod, Dispute, Payment, PendingAction, Refund, RefundStatus, Status
from .processor import DisputeStatus


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
                "failure_reason": r.failure_reason,
            }
            for r in payment.refunds
        ],
        "amount_disputed": payment.amount_disputed,
        "disputes": [dispute_snapshot(d) for d in payment.disputes],
        "review_reason": payment.review_reason,
        "failure_code": payment.failure_code,
        "failure_message": payment.failure_message,
        "pending_action": payment.pending_action.value if payment.pending_action else None,
        "pending_amount": payment.pending_amount,
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
        "version": payment.version,
    }


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def dispute_snapshot(d: Dispute) -> dict[str, Any]:
    return {
        "dispute_id": d.dispute_id,
        "processor_reference": d.processor_reference,
        "amount": d.amount,
        "reason": d.reason,
        "status": d.status.value,
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
        "evidence_due_by": _time(d.evidence_due_by),
        "funds_withdrawn": d.funds_withdrawn,
        "funds_reinstated": d.funds_reinstated,
        "evidence_submitted": d.evidence_submitted,
    }


def dispute_from_snapshot(data: dict[str, Any]) -> Dispute:
    fields = dict(data)
    fields["status"] = DisputeStatus(fields["status"])
    for name in ("created_at", "updated_at", "evidence_due_by"):
        fields[name] = _parse_time(fields[name])
    return Dispute(**fields)


def from_snapshot(data: dict[str, Any]) -> Payment:
    fields = dict(data)
    fields["status"] = Status(fields["status"])
    fields["capture_method"] = CaptureMethod(fields["capture_method"])
    fields["pending_action"] = PendingAction(fields["pending_action"]) if fields["pending_action"] else None
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    fields["updated_at"] = datetime.fromisoformat(fields["updated_at"])
    fields["refunds"] = [
        Refund(r["refund_id"], r["amount"], r["reason"], RefundStatus(r["status"]),
               datetime.fromisoformat(r["created_at"]), r.get("processor_reference", ""), r.get("failure_reason", ""))
        for r in data["refunds"]
    ]
    fields["disputes"] = [dispute_from_snapshot(d) for d in data.get("disputes", [])]
    fields.setdefault("amount_disputed", 0)
    fields.setdefault("review_reason", "")
    return Payment(**fields)
