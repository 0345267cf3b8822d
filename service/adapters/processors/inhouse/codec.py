"""Results as the in-house ledger stores them under idempotency keys, and request fingerprints.

A stored result is JSON: ``{"payment": {...}}``, ``{"refund": {...}}`` or
``{"declined": {"code", "message"}}``; decoding a stored decline raises the
same ProcessorDeclined the first call raised.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from service.domain.errors import ProcessorDeclined
from service.domain.processor import ProcessorPayment, ProcessorRefund, ProcessorRefundStatus, ProcessorStatus

from .records import LedgerPayment, LedgerRefund

# ProcessorPayment's fields are scalars: read one by one (dataclasses.asdict deep-copies every value).
_VIEW_FIELDS = tuple(field.name for field in dataclasses.fields(ProcessorPayment))


def payment_result(payment: LedgerPayment) -> dict[str, Any]:
    view = payment.view()
    return {"payment": {**{name: getattr(view, name) for name in _VIEW_FIELDS}, "status": payment.status.value}}


def refund_result(refund: LedgerRefund) -> dict[str, Any]:
    return {"refund": {"reference": refund.reference, "amount": refund.amount, "status": refund.status,
                       "refund_id": refund.refund_id, "payment_reference": refund.payment_reference}}


def decline_result(payment: LedgerPayment) -> dict[str, Any]:
    return {"declined": {"code": payment.failure_code, "message": payment.failure_message}}


def decode(result: Mapping[str, Any]) -> ProcessorPayment | ProcessorRefund:
    """The answer a stored result stands for (a stored decline is raised again)."""
    if "declined" in result:
        declined = result["declined"]
        raise ProcessorDeclined(declined["message"], code=declined["code"])
    if "refund" in result:
        refund = dict(result["refund"])
        refund.pop("succeeded", None)  # results stored before refunds had a status all succeeded
        refund["status"] = ProcessorRefundStatus(refund.get("status", "SUCCEEDED"))
        return ProcessorRefund(**refund)
    payment = dict(result["payment"])
    return ProcessorPayment(**{**payment, "status": ProcessorStatus(payment["status"])})


def fingerprint(operation: str, **params: Any) -> str:
    """A stable hash of one call's parameters: a reused key must come with the same ones."""
    canonical = json.dumps({"operation": operation, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
