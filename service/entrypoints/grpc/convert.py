"""Translation between protobuf messages and the domain."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from ...domain.errors import InvalidArgument
from ...domain.model import CaptureMethod, Dispute, Payment, Refund, RefundStatus, Status
from ...domain.processor import DisputeEvidence, DisputeStatus
from ...gen.payment.v1 import payment_pb2 as pb
from ...service_layer.commands import (
    Action,
    CloseDispute,
    CreatePayment,
    ListPayments,
    ProcessPayment,
    SubmitDisputeEvidence,
)

# ---- Payment <-> pb.Payment: the one mapping, as tables ---------------------------------------
# A unit test fails when a field of pb.Payment / pb.Refund, or of the domain dataclasses, is in
# none of these tables.

# Same name, same meaning, same type on both sides.
PAYMENT_SAME = (
    "payment_id", "merchant_id", "amount", "currency", "payment_method", "customer_id", "description",
    "processor", "processor_reference", "amount_captured", "amount_refunded", "failure_code", "failure_message",
    "amount_disputed", "review_reason",
)
REFUND_SAME = ("refund_id", "amount", "reason", "failure_reason")
DISPUTE_SAME = ("dispute_id", "amount", "reason", "evidence_submitted", "processor_reference")
# Enums whose proto value names are the domain values.
PAYMENT_ENUMS = {"status": (pb.PaymentStatus, Status), "capture_method": (pb.CaptureMethod, CaptureMethod)}
# proto Timestamp -> domain datetime.
PAYMENT_TIMES = {"create_time": "created_at", "update_time": "updated_at"}
REFUND_TIMES = {"create_time": "created_at"}
DISPUTE_TIMES = {"create_time": "created_at", "update_time": "updated_at"}
DISPUTE_OPTIONAL_TIMES = {"evidence_due_by": "evidence_due_by"}
# The service's own bookkeeping, never shown to clients.
PAYMENT_INTERNAL = ("pending_action", "pending_amount", "version")
REFUND_INTERNAL = ("processor_reference",)
# What a dispute's amount_withheld is computed from; clients see amount_disputed on the payment.
DISPUTE_INTERNAL = ("funds_withdrawn", "funds_reinstated")

_REFUND_STATUS = {
    RefundStatus.PENDING: pb.REFUND_PENDING,
    RefundStatus.SUCCEEDED: pb.REFUND_SUCCEEDED,
    RefundStatus.FAILED: pb.REFUND_FAILED,
    RefundStatus.CANCELED: pb.REFUND_CANCELED,
}
_REFUND_STATUS_BACK = {number: status for status, number in _REFUND_STATUS.items()}


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _times(obj: object, table: dict[str, str]) -> dict[str, Timestamp]:
    return {proto: _timestamp(getattr(obj, attribute)) for proto, attribute in table.items()}


def _times_back(message, table: dict[str, str]) -> dict[str, datetime]:
    return {attribute: getattr(message, proto).ToDatetime(tzinfo=UTC) for proto, attribute in table.items()}


def refund_to_pb(refund: Refund) -> pb.Refund:
    return pb.Refund(**{name: getattr(refund, name) for name in REFUND_SAME}, **_times(refund, REFUND_TIMES),
                     status=_REFUND_STATUS[refund.status])


def dispute_to_pb(dispute: Dispute) -> pb.Dispute:
    optional = {proto: _timestamp(getattr(dispute, name)) for proto, name in DISPUTE_OPTIONAL_TIMES.items()
                if getattr(dispute, name) is not None}
    return pb.Dispute(**{name: getattr(dispute, name) for name in DISPUTE_SAME}, **_times(dispute, DISPUTE_TIMES),
                      **optional, status=pb.DisputeStatus.Value(dispute.status.value))


def dispute_from_pb(message: pb.Dispute) -> Dispute:
    optional = {name: getattr(message, proto).ToDatetime(tzinfo=UTC) if message.HasField(proto) else None
                for proto, name in DISPUTE_OPTIONAL_TIMES.items()}
    return Dispute(**{name: getattr(message, name) for name in DISPUTE_SAME}, **_times_back(message, DISPUTE_TIMES),
                   **optional, status=DisputeStatus(pb.DisputeStatus.Name(message.status)))


def payment_to_pb(payment: Payment) -> pb.Payment:
    return pb.Payment(
        **{name: getattr(payment, name) for name in PAYMENT_SAME},
        **{name: proto.Value(getattr(payment, name).value) for name, (proto, _) in PAYMENT_ENUMS.items()},
        **_times(payment, PAYMENT_TIMES),
        metadata=payment.metadata,
        refunds=[refund_to_pb(refund) for refund in payment.refunds],
        disputes=[dispute_to_pb(dispute) for dispute in payment.disputes],
    )


def payment_from_pb(message: pb.Payment) -> Payment:
    """The inverse of payment_to_pb; internal bookkeeping (PAYMENT_INTERNAL) takes its defaults."""
    refunds = [
        Refund(**{name: getattr(r, name) for name in REFUND_SAME}, **_times_back(r, REFUND_TIMES),
               status=_REFUND_STATUS_BACK[r.status])
        for r in message.refunds
    ]
    return Payment(
        **{name: getattr(message, name) for name in PAYMENT_SAME},
        **{name: domain(proto.Name(getattr(message, name))) for name, (proto, domain) in PAYMENT_ENUMS.items()},
        **_times_back(message, PAYMENT_TIMES),
        metadata=dict(message.metadata),
        refunds=refunds,
        disputes=[dispute_from_pb(d) for d in message.disputes],
    )


def _idempotency_key(header_key: str, request_id: str) -> str:
    if header_key and request_id and header_key != request_id:
        raise InvalidArgument("request_id", "differs from the idempotency-key header; send one or the other")
    return header_key or request_id


def create_command(request: pb.CreatePaymentRequest, merchant_id: str, header_key: str) -> CreatePayment:
    capture = request.capture_method
    if capture not in (pb.CAPTURE_METHOD_UNSPECIFIED, pb.MANUAL, pb.AUTOMATIC):
        raise InvalidArgument("capture_method", "must be MANUAL or AUTOMATIC")
    return CreatePayment(
        merchant_id=merchant_id,
        amount=request.amount,
        currency=request.currency,
        payment_method=request.payment_method,
        capture_method=CaptureMethod.AUTOMATIC if capture == pb.AUTOMATIC else CaptureMethod.MANUAL,
        customer_id=request.customer_id,
        description=request.description,
        metadata=dict(request.metadata),
        processor=request.processor,
        idempotency_key=_idempotency_key(header_key, request.request_id),
    )


def process_command(request: pb.ProcessPaymentRequest, merchant_id: str, header_key: str) -> ProcessPayment:
    names = {pb.CAPTURE: Action.CAPTURE, pb.REFUND: Action.REFUND, pb.CANCEL: Action.CANCEL}
    if request.action not in names:
        raise InvalidArgument("action", "is required: CAPTURE, REFUND or CANCEL")
    return ProcessPayment(
        merchant_id=merchant_id,
        payment_id=request.payment_id,
        action=names[request.action],
        amount=request.amount if request.HasField("amount") else None,
        reason=request.reason,
        idempotency_key=_idempotency_key(header_key, request.request_id),
    )


def list_query(request: pb.ListPaymentsRequest, merchant_id: str) -> ListPayments:
    status = None
    if request.status != pb.PAYMENT_STATUS_UNSPECIFIED:
        try:
            status = Status(pb.PaymentStatus.Name(request.status))
        except ValueError:
            raise InvalidArgument("status", "is not a payment status") from None
    return ListPayments(
        merchant_id=merchant_id,
        page_size=request.page_size,
        page_token=request.page_token,
        status=status,
        customer_id=request.customer_id,
    )


def evidence_command(request: pb.SubmitDisputeEvidenceRequest, merchant_id: str,
                     header_key: str) -> SubmitDisputeEvidence:
    fields = {f.name: getattr(request.evidence, f.name) for f in pb.DisputeEvidence.DESCRIPTOR.fields}
    return SubmitDisputeEvidence(
        merchant_id=merchant_id, payment_id=request.payment_id, dispute_id=request.dispute_id,
        evidence=DisputeEvidence(**fields), submit=request.submit,
        idempotency_key=_idempotency_key(header_key, request.request_id))


def close_dispute_command(request: pb.CloseDisputeRequest, merchant_id: str, header_key: str) -> CloseDispute:
    return CloseDispute(merchant_id=merchant_id, payment_id=request.payment_id, dispute_id=request.dispute_id,
                        idempotency_key=_idempotency_key(header_key, request.request_id))
