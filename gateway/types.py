"""The GraphQL types: the proto's messages and enums, field for field.

Names are the proto's (snake_case fields, enum values identical to the proto's
names, without the `*_UNSPECIFIED` placeholders). Two custom scalars keep the
values exactly as the REST (protobuf JSON) view prints them:

- `Int64`: money amounts are int64 minor units, which can exceed GraphQL's
  32-bit Int; they are serialized as decimal strings (as the protobuf JSON
  mapping prints int64) and accepted as a string or an integer.
- `Timestamp`: RFC 3339 in UTC, e.g. "2025-01-02T03:04:05.123456Z".

`metadata` (a proto map<string, string>) is a list of {key, value} pairs,
sorted by key.
"""

from __future__ import annotations

import enum
import re
from typing import NewType

import strawberry
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp as PbTimestamp
from strawberry.types.scalar import ScalarDefinition

from service.gen.payment.v1 import payment_pb2 as pb

from .errors import InputValueError, invalid_argument

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DIGITS = re.compile(r"-?[0-9]{1,19}")

Int64 = NewType("Int64", int)
Timestamp = NewType("Timestamp", str)


def parse_int64(value: object) -> int:
    """An Int64 from a GraphQL integer literal, a JSON number or a string of digits.

    Refusals are InputValueErrors: graphql-core keeps the exception as the
    error's cause, and the gateway masks an error with any other cause as
    INTERNAL (it did: a 500 for `amount: 1.5`, issue 15 item 3).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value)
    else:
        raise InputValueError("Int64 must be an integer or a string of decimal digits")
    if not INT64_MIN <= number <= INT64_MAX:
        raise InputValueError("Int64 must fit in 64 bits")
    return number


def _reject_input(value: object) -> str:
    raise InputValueError("Timestamp is output only")


SCALARS: dict[object, ScalarDefinition] = {
    Int64: strawberry.scalar(
        name="Int64", serialize=str, parse_value=parse_int64,
        description="A 64-bit integer (money in minor units), printed as a decimal string like the "
                    "protobuf JSON mapping does; accepted as a string or an integer."),
    Timestamp: strawberry.scalar(
        name="Timestamp", serialize=str, parse_value=_reject_input,
        description="An instant as RFC 3339 in UTC, e.g. 2025-01-02T03:04:05.123456Z (as in the REST JSON)."),
}


def proto_enum(descriptor: EnumDescriptor, description: str) -> type[enum.Enum]:
    """A GraphQL enum with the proto enum's value names, minus its *_UNSPECIFIED placeholder."""
    members = {value.name: value.name for value in descriptor.values if not value.name.endswith("_UNSPECIFIED")}
    return strawberry.enum(enum.Enum(descriptor.name, members), description=description)  # type: ignore[return-value]


PaymentStatus = proto_enum(pb.PaymentStatus.DESCRIPTOR, "Where a payment is in its lifecycle.")
CaptureMethod = proto_enum(pb.CaptureMethod.DESCRIPTOR, "When an authorized payment is captured.")
PaymentAction = proto_enum(pb.PaymentAction.DESCRIPTOR, "What process_payment does to a payment.")
RefundStatus = proto_enum(pb.RefundStatus.DESCRIPTOR, "Where a refund is.")
DisputeStatus = proto_enum(pb.DisputeStatus.DESCRIPTOR, "Where a dispute is.")


def _name(enum_type: type[enum.Enum], descriptor: EnumDescriptor, number: int) -> enum.Enum:
    return enum_type[descriptor.values_by_number[number].name]


def _time(stamp: PbTimestamp) -> str:
    return stamp.ToJsonString()


@strawberry.type(description="One key-value pair of a payment's metadata.")
class MetadataEntry:
    key: str
    value: str


@strawberry.input(description="One key-value pair of a new payment's metadata; keys must be unique.")
class MetadataEntryInput:
    key: str
    value: str


@strawberry.type(description="One (partial or full) refund of a captured payment.")
class Refund:
    refund_id: strawberry.ID = strawberry.field(description="Server-assigned id, `re_` and 26 characters.")
    amount: Int64 = strawberry.field(description="Refunded amount in minor units.")
    reason: str = strawberry.field(description="The merchant's reason, or empty.")
    create_time: Timestamp = strawberry.field(description="When the refund was made.")
    status: RefundStatus = strawberry.field(  # type: ignore[valid-type]
        description="REFUND_PENDING while the processor has not confirmed it.")
    failure_reason: str = strawberry.field(description="Why the processor failed or canceled it, or empty.")

    @classmethod
    def from_pb(cls, refund: pb.Refund) -> Refund:
        return cls(refund_id=strawberry.ID(refund.refund_id), amount=Int64(refund.amount), reason=refund.reason,
                   create_time=Timestamp(_time(refund.create_time)),
                   status=_name(RefundStatus, pb.RefundStatus.DESCRIPTOR, refund.status),
                   failure_reason=refund.failure_reason)


@strawberry.type(description="A customer's challenge of a captured payment with their bank.")
class Dispute:
    dispute_id: strawberry.ID = strawberry.field(description="Server-assigned id, `dp_` and 26 characters.")
    amount: Int64 = strawberry.field(description="The disputed amount in minor units.")
    reason: str = strawberry.field(description="The network's reason, e.g. fraudulent.")
    status: DisputeStatus  # type: ignore[valid-type]
    evidence_due_by: Timestamp | None = strawberry.field(description="Last moment for evidence, if known.")
    evidence_submitted: bool = strawberry.field(description="Whether evidence was submitted (final).")
    processor_reference: str = strawberry.field(description="The processor's own id for the dispute.")
    create_time: Timestamp = strawberry.field(description="When the dispute was opened.")
    update_time: Timestamp = strawberry.field(description="When the dispute last changed.")

    @classmethod
    def from_pb(cls, dispute: pb.Dispute) -> Dispute:
        due = Timestamp(_time(dispute.evidence_due_by)) if dispute.HasField("evidence_due_by") else None
        return cls(dispute_id=strawberry.ID(dispute.dispute_id), amount=Int64(dispute.amount),
                   reason=dispute.reason, status=_name(DisputeStatus, pb.DisputeStatus.DESCRIPTOR, dispute.status),
                   evidence_due_by=due, evidence_submitted=dispute.evidence_submitted,
                   processor_reference=dispute.processor_reference,
                   create_time=Timestamp(_time(dispute.create_time)),
                   update_time=Timestamp(_time(dispute.update_time)))


@strawberry.type(description="One charge of a merchant's customer (payment.v1.Payment, field for field).")
class Payment:
    payment_id: strawberry.ID = strawberry.field(description="Server-assigned id, `pay_` and 26 characters.")
    merchant_id: str = strawberry.field(description="The merchant that owns the payment.")
    amount: Int64 = strawberry.field(description="Amount in the currency's minor units.")
    currency: str = strawberry.field(description="ISO 4217 alphabetic code, upper case.")
    status: PaymentStatus  # type: ignore[valid-type]
    capture_method: CaptureMethod  # type: ignore[valid-type]
    payment_method: str = strawberry.field(description="The processor's payment method token.")
    customer_id: str = strawberry.field(description="The merchant's customer reference, or empty.")
    description: str = strawberry.field(description="Free text, or empty.")
    metadata: list[MetadataEntry] = strawberry.field(description="The merchant's key-value pairs, by key.")
    processor: str = strawberry.field(description="Name of the processor adapter that handles the payment.")
    processor_reference: str = strawberry.field(description="The processor's own id, once known.")
    amount_captured: Int64 = strawberry.field(description="Amount captured so far, in minor units.")
    amount_refunded: Int64 = strawberry.field(description="Amount refunded so far, in minor units.")
    refunds: list[Refund] = strawberry.field(description="Every refund, oldest first.")
    failure_code: str = strawberry.field(description="Machine-readable failure code when FAILED, or empty.")
    failure_message: str = strawberry.field(description="Human-readable failure reason when FAILED, or empty.")
    create_time: Timestamp = strawberry.field(description="When the payment was created.")
    update_time: Timestamp = strawberry.field(description="When the payment last changed.")
    amount_disputed: Int64 = strawberry.field(
        description="Amount withheld by chargebacks (open or lost); kept = captured - refunded - disputed.")
    disputes: list[Dispute] = strawberry.field(description="Every dispute, oldest first.")
    review_reason: str = strawberry.field(description="Why a person must look at the payment, or empty.")

    @classmethod
    def from_pb(cls, payment: pb.Payment) -> Payment:
        return cls(
            payment_id=strawberry.ID(payment.payment_id),
            merchant_id=payment.merchant_id,
            amount=Int64(payment.amount),
            currency=payment.currency,
            status=_name(PaymentStatus, pb.PaymentStatus.DESCRIPTOR, payment.status),
            capture_method=_name(CaptureMethod, pb.CaptureMethod.DESCRIPTOR, payment.capture_method),
            payment_method=payment.payment_method,
            customer_id=payment.customer_id,
            description=payment.description,
            metadata=[MetadataEntry(key=k, value=v) for k, v in sorted(payment.metadata.items())],
            processor=payment.processor,
            processor_reference=payment.processor_reference,
            amount_captured=Int64(payment.amount_captured),
            amount_refunded=Int64(payment.amount_refunded),
            refunds=[Refund.from_pb(refund) for refund in payment.refunds],
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
            create_time=Timestamp(_time(payment.create_time)),
            update_time=Timestamp(_time(payment.update_time)),
            amount_disputed=Int64(payment.amount_disputed),
            disputes=[Dispute.from_pb(d) for d in payment.disputes],
            review_reason=payment.review_reason,
        )


@strawberry.type(description="One page of payments, newest first (ListPaymentsResponse).")
class PaymentPage:
    payments: list[Payment]
    next_page_token: str = strawberry.field(
        description="Pass as page_token for the next page; empty on the last page.")


def _metadata(entries: list[MetadataEntryInput] | None) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for entry in entries or ():
        if entry.key in metadata:
            raise invalid_argument("metadata", f"key {entry.key!r} appears more than once")
        metadata[entry.key] = entry.value
    return metadata


@strawberry.input(description="A new payment (CreatePaymentRequest); the API checks every field.")
class PaymentInput:
    amount: Int64 = strawberry.field(description="Positive amount in minor units, at most 99999999999.")
    currency: str = strawberry.field(description="ISO 4217 alphabetic code (case-insensitive), e.g. USD.")
    payment_method: str | None = strawberry.field(
        default=None, description="Processor payment method token, e.g. pm_card_visa. Never a card number.")
    capture_method: CaptureMethod | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="MANUAL (the default) or AUTOMATIC.")
    customer_id: str | None = strawberry.field(default=None, description="At most 255 characters.")
    description: str | None = strawberry.field(default=None, description="At most 1000 characters.")
    metadata: list[MetadataEntryInput] | None = strawberry.field(
        default=None, description="Up to 50 unique keys of at most 40 characters, values of at most 500.")
    processor: str | None = strawberry.field(default=None, description="Processor adapter; the default when absent.")
    request_id: str | None = strawberry.field(
        default=None, description="Idempotency key when the Idempotency-Key header cannot be sent.")

    def to_pb(self) -> pb.CreatePaymentRequest:
        capture = pb.CaptureMethod.Value(self.capture_method.name) if self.capture_method else 0
        return pb.CreatePaymentRequest(
            amount=self.amount, currency=self.currency, payment_method=self.payment_method or "",
            capture_method=capture, customer_id=self.customer_id or "", description=self.description or "",
            metadata=_metadata(self.metadata), processor=self.processor or "", request_id=self.request_id or "")
