"""Translation between protobuf messages and the domain."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from ...domain.errors import InvalidArgument
from ...domain.model import CaptureMethod, Dispute, Payment, RefundStatus, Status
from ...domain.processor import DisputeEvidence
from ...gen.payment.v1 import payment_pb2 as pb
from ...service_layer.commands import (
    Action,
    CloseDispute,
    CreatePayment,
    ListPayments,
    ProcessPayment,
    SubmitDisputeEvidence,
)

_REFUND_STATUS = {
    RefundStatus.PENDING: pb.REFUND_PENDING,
    RefundStatus.SUCCEEDED: pb.REFUND_SUCCEEDED,
    RefundStatus.FAILED: pb.REFUND_FAILED,
    RefundStatus.CANCELED: pb.REFUND_CANCELED,
}


def _timestamp(value) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def dispute_to_pb(dispute: Dispute) -> pb.Dispute:
    message = pb.Dispute(
        dispute_id=dispute.dispute_id, amount=dispute.amount, reason=dispute.reason,
        status=pb.DisputeStatus.Value(dispute.status.value), evidence_submitted=dispute.evidence_submitted,
        processor_reference=dispute.processor_reference, create_time=_timestamp(dispute.created_at),
        update_time=_timestamp(dispute.updated_at))
    if dispute.evidence_due_by:
        message.evidence_due_by.CopyFrom(_timestamp(dispute.evidence_due_by))
    return message


def payment_to_pb(payment: Payment) -> pb.Payment:
    return pb.Payment(
        payment_id=payment.payment_id,
        merchant_id=payment.merchant_id,
        amount=payment.amount,
        currency=payment.currency,
        status=pb.PaymentStatus.Value(payment.status.value),
        capture_method=pb.CaptureMethod.Value(payment.capture_method.value),
        payment_method=payment.payment_method,
        customer_id=payment.customer_id,
        description=payment.description,
        metadata=payment.metadata,
        processor=payment.processor,
        processor_reference=payment.processor_reference,
        amount_captured=payment.amount_captured,
        amount_refunded=payment.amount_refunded,
        refunds=[
            pb.Refund(refund_id=r.refund_id, amount=r.amount, reason=r.reason,
                      create_time=_timestamp(r.created_at), status=_REFUND_STATUS[r.status],
                      failure_reason=r.failure_reason)
            for r in payment.refunds
        ],
        amount_disputed=payment.amount_disputed,
        disputes=[dispute_to_pb(d) for d in payment.disputes],
        review_reason=payment.review_reason,
        failure_code=payment.failure_code,
        failure_message=payment.failure_message,
        create_time=_timestamp(payment.created_at),
        update_time=_timestamp(payment.updated_at),
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
