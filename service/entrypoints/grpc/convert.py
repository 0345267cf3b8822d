"""Translation between protobuf messages and the domain."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from ...domain.errors import InvalidArgument
from ...domain.model import CaptureMethod, Payment, RefundStatus, Status
from ...gen.payment.v1 import payment_pb2 as pb
from ...service_layer.commands import Action, CreatePayment, ListPayments, ProcessPayment

_REFUND_STATUS = {
    RefundStatus.PENDING: pb.REFUND_PENDING,
    RefundStatus.SUCCEEDED: pb.REFUND_SUCCEEDED,
    RefundStatus.FAILED: pb.REFUND_FAILED,
}


def _timestamp(value) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


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
                      create_time=_timestamp(r.created_at), status=_REFUND_STATUS[r.status])
            for r in payment.refunds
        ],
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
