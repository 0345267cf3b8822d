"""Money that moves after the request: refunds that fail later and disputes, on the domain model.

Every update is a processor *view* applied by comparing states, so the same
view twice, or an older one after a newer one, changes nothing."""

from __future__ import annotations

import itertools

import pytest

from service.domain import errors
from service.domain.model import CaptureMethod, Payment, RefundStatus, Status
from service.domain.processor import DisputeStatus, ProcessorDispute, ProcessorRefund, ProcessorRefundStatus

pytestmark = pytest.mark.unit

_ids = itertools.count()


def new_id() -> str:
    return f"x_{next(_ids)}"


def captured(amount: int = 1000) -> Payment:
    payment = Payment.new(payment_id="pay_X", merchant_id="acct_1", amount=amount, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="stripe")
    payment.authorized("pi_1", captured=True)
    return payment


def refund_view(status: str, amount: int = 400, refund_id: str = "re_1", reference: str = "re_s1",
                reason: str = "") -> ProcessorRefund:
    return ProcessorRefund(reference, amount, ProcessorRefundStatus(status), reason, refund_id, "pi_1")


def dispute_view(status: DisputeStatus, amount: int = 1000, **flags) -> ProcessorDispute:
    return ProcessorDispute("du_1", "pi_1", amount, status, "fraudulent", **flags)


def amounts(p: Payment) -> tuple:
    return p.status, p.amount_refunded, p.amount_refund_pending, p.amount_refundable, p.amount_disputed


def test_a_pending_refund_reserves_its_amount_and_is_not_counted_as_refunded():
    payment = captured()
    payment.begin_refund("re_1", 400)
    payment.record_refund_answer("re_1", refund_view("PENDING"))
    assert amounts(payment) == (Status.CAPTURED, 0, 400, 600, 0)
    assert payment.refunds[0].processor_reference == "re_s1"
    with pytest.raises(errors.RefundExceedsCaptured):
        payment.begin_refund("re_2", 601)


def test_a_refund_that_fails_later_releases_its_amount_with_its_reason():
    payment = captured()
    payment.begin_refund("re_1", 1000)
    payment.record_refund_answer("re_1", refund_view("SUCCEEDED", 1000))
    assert amounts(payment) == (Status.REFUNDED, 1000, 0, 0, 0)
    assert payment.apply_refund_view(refund_view("FAILED", 1000, reason="expired_or_canceled_card"), new_id)
    assert amounts(payment) == (Status.CAPTURED, 0, 0, 1000, 0)
    assert (payment.refunds[0].status, payment.refunds[0].failure_reason) == (
        RefundStatus.FAILED, "expired_or_canceled_card")
    payment.begin_refund("re_2", 1000)  # refundable again


@pytest.mark.parametrize("final", ["FAILED", "CANCELED"])
def test_final_refund_states_stay_final_whatever_arrives_after(final):
    payment = captured()
    payment.begin_refund("re_1", 400)
    payment.apply_refund_view(refund_view(final), new_id)
    before = amounts(payment)
    for late in ("PENDING", "SUCCEEDED", final):
        assert not payment.apply_refund_view(refund_view(late), new_id)
    assert amounts(payment) == before == (Status.CAPTURED, 0, 0, 1000, 0)


def test_partial_refund_failing_moves_refunded_back_to_partially_refunded():
    payment = captured()
    for n, amount in enumerate((300, 200), start=1):
        payment.begin_refund(f"re_{n}", amount)
        payment.record_refund_answer(f"re_{n}", refund_view("SUCCEEDED", amount, f"re_{n}", f"re_s{n}"))
    assert amounts(payment)[:2] == (Status.PARTIALLY_REFUNDED, 500)
    payment.apply_refund_view(refund_view("FAILED", 200, "re_2", "re_s2"), new_id)
    assert amounts(payment)[:2] == (Status.PARTIALLY_REFUNDED, 300)


def test_a_refund_made_at_the_processor_is_recorded_once_by_its_reference():
    payment = captured()
    made_elsewhere = refund_view("SUCCEEDED", 250, refund_id="")
    assert payment.apply_refund_view(made_elsewhere, new_id)
    assert not payment.apply_refund_view(made_elsewhere, new_id)
    assert [(r.amount, r.processor_reference) for r in payment.refunds] == [(250, "re_s1")]
    assert amounts(payment)[:2] == (Status.PARTIALLY_REFUNDED, 250)


def test_a_total_never_confirms_a_pending_refund_nor_recounts_a_failed_one():
    payment = captured()
    payment.begin_refund("re_1", 400)
    payment.record_refund_answer("re_1", refund_view("PENDING"))
    payment._apply_refunded(400, new_id)  # charge.refunded counts pending refunds too
    assert amounts(payment)[:3] == (Status.CAPTURED, 0, 400)
    payment.apply_refund_view(refund_view("FAILED"), new_id)
    payment._apply_refunded(400, new_id)  # an older total, from before the failure
    assert amounts(payment)[:3] == (Status.CAPTURED, 0, 0) and len(payment.refunds) == 1


def test_a_chargeback_withholds_until_won_and_a_lost_one_keeps_it():
    won, lost = captured(), captured()
    for payment in (won, lost):
        assert payment.apply_dispute_view(dispute_view(DisputeStatus.NEEDS_RESPONSE), new_id)
        assert payment.amount_disputed == 1000 and payment.amount_refundable == 0
        payment.apply_dispute_view(dispute_view(DisputeStatus.NEEDS_RESPONSE, funds_withdrawn=True), new_id)
        payment.apply_dispute_view(dispute_view(DisputeStatus.UNDER_REVIEW), new_id)
    won.apply_dispute_view(dispute_view(DisputeStatus.WON), new_id)
    lost.apply_dispute_view(dispute_view(DisputeStatus.LOST), new_id)
    assert (won.amount_disputed, won.amount_refundable) == (0, 1000)
    assert (lost.amount_disputed, lost.amount_refundable) == (1000, 0)
    for payment in (won, lost):  # older and repeated views change nothing
        before = (payment.disputes[0].status, payment.amount_disputed)
        for late in (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW):
            assert not payment.apply_dispute_view(dispute_view(late, funds_withdrawn=True), new_id)
        assert (payment.disputes[0].status, payment.amount_disputed) == before
        assert payment.status is Status.CAPTURED


def test_funds_reinstated_before_the_close_arrives_is_still_counted_once():
    payment = captured()
    payment.apply_dispute_view(dispute_view(DisputeStatus.UNDER_REVIEW, funds_reinstated=True), new_id)
    payment.apply_dispute_view(dispute_view(DisputeStatus.NEEDS_RESPONSE, funds_withdrawn=True), new_id)
    assert payment.amount_disputed == 0
    payment.apply_dispute_view(dispute_view(DisputeStatus.WON), new_id)
    assert (payment.disputes[0].status, payment.amount_disputed) == (DisputeStatus.WON, 0)


def test_an_inquiry_moves_no_money():
    payment = captured()
    payment.apply_dispute_view(dispute_view(DisputeStatus.WARNING_NEEDS_RESPONSE), new_id)
    assert payment.amount_disputed == 0 and payment.disputes[0].status.inquiry
    payment.apply_dispute_view(dispute_view(DisputeStatus.WARNING_CLOSED), new_id)
    assert payment.amount_disputed == 0


def test_evidence_and_closing_need_an_open_dispute():
    payment = captured()
    payment.apply_dispute_view(dispute_view(DisputeStatus.LOST), new_id)
    dispute_id = payment.disputes[0].dispute_id
    with pytest.raises(errors.DisputeClosed):
        payment.check_dispute_open(dispute_id)
    with pytest.raises(errors.NotFound) as raised:
        payment.check_dispute_open("dp_unknown")
    assert raised.value.reason == "DISPUTE_NOT_FOUND"


def test_the_edge_validates_dispute_evidence_bodies_a_nested_message():
    import pathlib

    from service.entrypoints.edge.body_rules import BodyRules

    rules = BodyRules.from_descriptor_set((pathlib.Path(__file__).parents[2] / "envoy/payment.pb").read_bytes())
    path = "/v1/payments/pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K/disputes/dp_01JD8X3Q6J8W7Z0V5Y4T2R1S9K:submitEvidence"
    assert rules.check("POST", path, b'{"evidence": {"uncategorized_text": "x"}, "submit": true}') is None
    refused = rules.check("POST", path, b'{"evidence": {"bogus": "x"}}')
    assert (refused.field, refused.reason) == ("evidence.bogus", "UNKNOWN_FIELD")
