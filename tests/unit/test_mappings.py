"""Each boundary maps the payment once, and every field crosses it: round trips and field lists.

domain -> row -> domain (repository.py), domain -> snapshot -> domain (domain/snapshot.py),
domain -> proto -> domain (entrypoints/grpc/convert.py), and the in-house ledger's record -> row.
Adding a column, a proto field or a dataclass field without its mapping fails one of these.
"""

from __future__ import annotations

import dataclasses
import json
import types
from datetime import UTC, datetime

import pytest

from service.adapters import repository
from service.adapters.processors.inhouse import postgres_ledger
from service.adapters.processors.inhouse.records import LedgerPayment, LedgerRefund
from service.adapters.tables import disputes, inhouse_payments, inhouse_refunds, payments, refunds
from service.domain.model import CaptureMethod, Dispute, Payment, PendingAction, Refund, RefundStatus, Status
from service.domain.processor import DisputeStatus, ProcessorStatus
from service.domain.snapshot import from_snapshot, state_fields, to_snapshot
from service.entrypoints.grpc import convert
from service.gen.payment.v1 import payment_pb2 as pb

pytestmark = pytest.mark.unit


def names(cls) -> set[str]:
    """The state fields of a domain dataclass (``events`` is not state: nothing maps it)."""
    return {field.name for field in state_fields(cls)}


def columns(table) -> set[str]:
    return {column.name for column in table.columns}


def refund(n: int, status: RefundStatus) -> Refund:
    return Refund(f"re_{n:026d}", 100 * n, f"reason {n}", status,
                  datetime(2026, 1, 2, 3, 4, 5, 600000 + n, tzinfo=UTC), f"ih_re_{n}", f"failure {n}")


def dispute(n: int) -> Dispute:
    return Dispute(f"dp_{n:026d}", f"du_{n}", 100 * n, "fraudulent", DisputeStatus.UNDER_REVIEW,
                   datetime(2026, 1, 3, 3, 4, 5, n, tzinfo=UTC), datetime(2026, 1, 4, 3, 4, 5, n, tzinfo=UTC),
                   datetime(2026, 1, 9, tzinfo=UTC), funds_withdrawn=True, funds_reinstated=True,
                   evidence_submitted=True)


def full_payment(**changes) -> Payment:
    """A payment whose every field differs from its default."""
    payment = Payment(
        payment_id="pay_01ARZ3NDEKTSV4RRFFQ69G5FAV", merchant_id="acct_map", amount=5000, currency="EUR",
        status=Status.PROCESSING, capture_method=CaptureMethod.AUTOMATIC, processor="inhouse",
        payment_method="pm_card_visa", customer_id="cus_1", description="tea and cake",
        metadata={"order": "42", "note": "ünïcode"}, processor_reference="ih_abc", amount_captured=5000,
        amount_refunded=100, refunds=[refund(1, RefundStatus.SUCCEEDED), refund(2, RefundStatus.PENDING)],
        amount_disputed=300, disputes=[dispute(3)], review_reason="no trace at the processor",
        failure_code="none_yet", failure_message="a message", pending_action=PendingAction.CAPTURE,
        pending_amount=4000, created_at=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, 12, 0, 1, 654321, tzinfo=UTC), version=7,
    )
    return dataclasses.replace(payment, **changes)


def test_the_sample_sets_every_field_so_the_round_trips_cover_them():
    defaults = Payment(payment_id="", merchant_id="", amount=0, currency="", status=Status.FAILED,
                       capture_method=CaptureMethod.MANUAL, processor="")
    sample = full_payment()
    same = [n for n in names(Payment) if n not in ("status", "capture_method")
            and getattr(sample, n) == getattr(defaults, n)]
    assert same == [], f"give these fields a non-default value in full_payment(): {same}"


# ---- domain <-> row ----------------------------------------------------------------------------------


def test_payment_columns_are_the_payment_fields():
    assert columns(payments) == names(Payment) - {"refunds", "disputes"}
    assert columns(refunds) == names(Refund) | {"payment_id"}
    assert columns(disputes) == names(Dispute) | {"payment_id"}


@pytest.mark.parametrize("pending", [PendingAction.CAPTURE, None])
def test_domain_row_domain(pending):
    payment = full_payment(pending_action=pending)
    row = repository.payment_row(payment)
    refund_rows = [repository.refund_row(payment.payment_id, r) for r in payment.refunds]
    dispute_rows = [repository.dispute_row(payment.payment_id, d) for d in payment.disputes]
    assert set(row) == columns(payments) and all(set(r) == columns(refunds) for r in refund_rows)
    assert all(set(d) == columns(disputes) for d in dispute_rows)
    assert row["status"] == "PROCESSING" and isinstance(row["created_at"], datetime)
    assert repository.payment_from_rows(row, refund_rows, dispute_rows) == payment


# ---- domain <-> snapshot (JSON) ------------------------------------------------------------------------


@pytest.mark.parametrize("pending", [PendingAction.CANCEL, None])
def test_domain_snapshot_domain(pending):
    payment = full_payment(pending_action=pending)
    snapshot = json.loads(json.dumps(to_snapshot(payment)))  # really JSON
    assert set(snapshot) == names(Payment) and set(snapshot["refunds"][0]) == names(Refund)
    assert from_snapshot(snapshot) == payment


def test_a_snapshot_written_before_a_field_existed_takes_its_default():
    snapshot = to_snapshot(full_payment())
    del snapshot["refunds"][0]["processor_reference"]
    assert from_snapshot(snapshot).refunds[0].processor_reference == ""


# ---- domain <-> proto -----------------------------------------------------------------------------------


def proto_fields(message) -> set[str]:
    return {field.name for field in message.DESCRIPTOR.fields}


def test_every_proto_payment_field_and_every_domain_field_has_a_mapping():
    mapped = {*convert.PAYMENT_SAME, *convert.PAYMENT_ENUMS, "metadata", "refunds", "disputes"}
    assert proto_fields(pb.Payment) == mapped | set(convert.PAYMENT_TIMES)
    assert names(Payment) == mapped | set(convert.PAYMENT_TIMES.values()) | set(convert.PAYMENT_INTERNAL)
    refund_mapped = {*convert.REFUND_SAME, "status"}
    assert proto_fields(pb.Refund) == refund_mapped | set(convert.REFUND_TIMES)
    assert names(Refund) == refund_mapped | set(convert.REFUND_TIMES.values()) | set(convert.REFUND_INTERNAL)
    dispute_mapped = {*convert.DISPUTE_SAME, "status"}
    dispute_times = {**convert.DISPUTE_TIMES, **convert.DISPUTE_OPTIONAL_TIMES}
    assert proto_fields(pb.Dispute) == dispute_mapped | set(dispute_times)
    assert names(Dispute) == dispute_mapped | set(dispute_times.values()) | set(convert.DISPUTE_INTERNAL)


def test_every_domain_status_has_a_proto_status():
    for status in Status:
        assert pb.PaymentStatus.Value(status.value)
    for method in CaptureMethod:
        assert pb.CaptureMethod.Value(method.value)


@pytest.mark.parametrize("status", list(Status))
def test_domain_proto_domain(status):
    payment = full_payment(status=status)
    wire = pb.Payment.FromString(convert.payment_to_pb(payment).SerializeToString())
    shown = dataclasses.replace(
        payment, pending_action=None, pending_amount=0, version=1,
        refunds=[dataclasses.replace(r, processor_reference="") for r in payment.refunds],
        disputes=[dataclasses.replace(d, funds_withdrawn=False, funds_reinstated=False) for d in payment.disputes],
    )
    assert convert.payment_from_pb(wire) == shown


# ---- the in-house ledger's record <-> row -------------------------------------------------------------


def test_ledger_columns_are_the_ledger_record_fields():
    assert columns(inhouse_payments) == names(LedgerPayment) | {"created_at", "updated_at"}
    assert columns(inhouse_refunds) == names(LedgerRefund) | {"created_at", "failure_reason", "announced"}


def test_ledger_record_row_record():
    record = LedgerPayment("ih_1", "acct_1", "pay_1", 900, "USD", "pm_card_visa", ProcessorStatus.CAPTURED,
                           amount_captured=900, amount_refunded=300, failure_code="x", failure_message="y")
    values = postgres_ledger._payment_values(record)
    assert values["status"] == ProcessorStatus.CAPTURED.value
    assert postgres_ledger._payment_from_row(types.SimpleNamespace(**values)) == record
