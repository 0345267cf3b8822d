"""The aggregate records one event per change, named from EVENT_TYPES only."""

from __future__ import annotations

import pytest

from service.domain import errors, ids
from service.domain.events import EVENT_TYPES, Event, UnknownEventType
from service.domain.model import CaptureMethod, Payment

pytestmark = pytest.mark.unit


def new_payment() -> Payment:
    return Payment.new(payment_id=ids.new_payment_id(), merchant_id="acct_unit", amount=1000, currency="USD",
                       capture_method=CaptureMethod.MANUAL, processor="fake")


def test_each_state_change_records_its_event_in_order():
    payment = new_payment()
    payment.authorized("ref_1", captured=False)
    payment.begin_capture(None)
    payment.complete_capture()
    refund = payment.begin_refund(ids.new_refund_id(), 1000)
    payment.complete_refund(refund.refund_id)
    assert [e.type for e in payment.events] == [
        "payment.created", "payment.authorized", "payment.capture_requested", "payment.captured",
        "refund.created", "refund.succeeded", "payment.refunded",
    ]
    assert {e.payment_id for e in payment.events} == {payment.payment_id}
    assert payment.events[-1].refund_id == refund.refund_id


def test_a_refused_transition_records_nothing():
    payment = new_payment()
    payment.declined("card_declined", "no")
    with pytest.raises(errors.PaymentNotCapturable):
        payment.begin_capture(None)
    assert [e.type for e in payment.events] == ["payment.created", "payment.failed"]


def test_processor_refusals_name_what_was_refused():
    payment = new_payment()
    payment.authorized("ref_1", captured=False)
    payment.begin_cancel()
    payment.abandon_pending()
    payment.begin_capture(None)
    payment.abandon_pending()
    assert [e.type for e in payment.events][-4:] == [
        "payment.cancel_requested", "payment.cancel_failed", "payment.capture_requested", "payment.capture_failed"]


def test_an_unknown_type_is_refused_and_every_type_is_noun_dot_verb_past():
    with pytest.raises(UnknownEventType):
        Event("payment.exploded_maybe", "pay_x")
    for type_ in EVENT_TYPES:
        noun, _, verb = type_.partition(".")
        # past participles: "...ed", and Stripe's own "dispute.funds_withdrawn"
        assert noun in ("payment", "refund", "dispute") and verb.endswith(("ed", "withdrawn")), type_


def test_events_do_not_change_equality_or_the_snapshot():
    from service.domain.snapshot import from_snapshot, to_snapshot

    payment = new_payment()
    assert "events" not in to_snapshot(payment)
    assert from_snapshot(to_snapshot(payment)) == payment
