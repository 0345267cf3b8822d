"""The payment state machine, by example and against a simple model (hypothesis)."""

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from service.domain import errors
from service.domain.model import CaptureMethod, Payment, RefundStatus, Status
from service.domain.processor import DisputeStatus, ProcessorDispute, ProcessorRefund, ProcessorRefundStatus

pytestmark = pytest.mark.unit


def authorized(amount: int = 1000) -> Payment:
    payment = Payment.new(payment_id="pay_X", merchant_id="acct_1", amount=amount, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="inhouse")
    payment.authorized("ih_1", captured=False)
    return payment


def captured(amount: int = 1000, capture: int | None = None) -> Payment:
    payment = authorized(amount)
    payment.begin_capture(capture)
    payment.complete_capture()
    return payment


def test_partial_capture_releases_the_rest():
    payment = captured(1000, 600)
    assert (payment.status, payment.amount_captured) == (Status.CAPTURED, 600)


def test_refunds_repeat_up_to_the_captured_amount():
    payment = captured(1000, 600)
    for n, refund_id in enumerate(["re_1", "re_2"]):
        payment.begin_refund(refund_id, 300, "dup")
        payment.complete_refund(refund_id)
        assert payment.status is (Status.PARTIALLY_REFUNDED if n == 0 else Status.REFUNDED)
    with pytest.raises(errors.PaymentNotRefundable):
        payment.begin_refund("re_3", 1)


def test_pending_refunds_reserve_their_amount():
    payment = captured(1000)
    payment.begin_refund("re_1", 700)
    with pytest.raises(errors.RefundExceedsCaptured) as raised:
        payment.begin_refund("re_2", 400)
    assert raised.value.reason == "REFUND_EXCEEDS_CAPTURED"
    payment.fail_refund("re_1")
    payment.begin_refund("re_2", 1000)


@pytest.mark.parametrize("step, error", [
    (lambda p: p.begin_capture(1001), errors.AmountExceedsCapturable),
    (lambda p: p.begin_refund("re_1", 1), errors.PaymentNotRefundable),
])
def test_illegal_steps_on_an_authorized_payment_change_nothing(step, error):
    payment = authorized()
    before = (payment.status, payment.amount_captured, list(payment.refunds))
    with pytest.raises(error):
        step(payment)
    assert (payment.status, payment.amount_captured, list(payment.refunds)) == before


def test_cancel_only_before_capture():
    payment = captured()
    with pytest.raises(errors.PaymentNotCancelable):
        payment.begin_cancel()
    fresh = authorized()
    fresh.begin_cancel()
    fresh.complete_cancel()
    assert fresh.status is Status.CANCELED
    with pytest.raises(errors.PaymentNotCapturable):
        fresh.begin_capture(None)


def test_a_failed_capture_returns_to_requires_capture():
    payment = authorized()
    payment.begin_capture(500)
    payment.abandon_pending()
    assert (payment.status, payment.amount_captured) == (Status.REQUIRES_CAPTURE, 0)


class PaymentModel(RuleBasedStateMachine):
    """Random sequences of legal and illegal steps, checked against plain arithmetic."""

    def __init__(self) -> None:
        super().__init__()
        self.payment = authorized(1000)
        self.state = "authorized"
        self.captured = 0
        self.refunded = 0
        self.pending: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.disputed = 0
        self.disputes = 0
        self.counter = 0

    def _try(self, step) -> bool:
        before = (self.payment.status, self.payment.amount_captured, self.payment.amount_refunded,
                  [(r.refund_id, r.status) for r in self.payment.refunds])
        try:
            step()
            return True
        except errors.IllegalTransition:
            after = (self.payment.status, self.payment.amount_captured, self.payment.amount_refunded,
                     [(r.refund_id, r.status) for r in self.payment.refunds])
            assert after == before, "an illegal step changed the payment"
            return False

    @rule(amount=st.one_of(st.none(), st.integers(1, 1200)))
    def capture(self, amount):
        ok = self._try(lambda: self.payment.begin_capture(amount))
        expected = self.state == "authorized" and (amount or 1000) <= 1000
        assert ok == expected
        if ok:
            self.payment.complete_capture()
            self.state, self.captured = "captured", amount or 1000

    @rule()
    def cancel(self):
        ok = self._try(self.payment.begin_cancel)
        assert ok == (self.state == "authorized")
        if ok:
            self.payment.complete_cancel()
            self.state = "canceled"

    @rule(amount=st.one_of(st.none(), st.integers(1, 1200)))
    def begin_refund(self, amount):
        self.counter += 1
        refund_id = f"re_{self.counter}"
        available = self.captured - self.refunded - sum(self.pending.values()) - self.disputed
        ok = self._try(lambda: self.payment.begin_refund(refund_id, amount))
        wanted = available if amount is None else amount
        assert ok == (self.state == "captured" and 0 < wanted <= available)
        if ok:
            self.pending[refund_id] = wanted

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), succeed=st.booleans())
    def finish_refund(self, data, succeed):
        refund_id = data.draw(st.sampled_from(sorted(self.pending)))
        amount = self.pending.pop(refund_id)
        if succeed:
            self.payment.complete_refund(refund_id)
            self.refunded += amount
            self.succeeded[refund_id] = amount
        else:
            self.payment.fail_refund(refund_id)

    @precondition(lambda self: self.succeeded)
    @rule(data=st.data(), repeat=st.booleans())
    def refund_fails_later(self, data, repeat):
        refund_id = data.draw(st.sampled_from(sorted(self.succeeded)))
        amount = self.succeeded.pop(refund_id)
        view = ProcessorRefund(f"ref_{refund_id}", amount, ProcessorRefundStatus.FAILED, "lost", refund_id)
        assert self.payment.apply_refund_view(view, lambda: "re_new")
        assert not repeat or not self.payment.apply_refund_view(view, lambda: "re_new")
        self.refunded -= amount

    @precondition(lambda self: self.state == "captured")
    @rule(amount=st.integers(1, 1000), outcome=st.sampled_from(["open", "won", "lost"]))
    def chargeback(self, amount, outcome):
        self.disputes += 1
        reference = f"du_{self.disputes}"
        for status in [DisputeStatus.NEEDS_RESPONSE] + {"open": [], "won": [DisputeStatus.WON],
                                                        "lost": [DisputeStatus.LOST]}[outcome]:
            view = ProcessorDispute(reference, "ih_1", amount, status)
            self.payment.apply_dispute_view(view, lambda: f"dp_{reference}")
        if outcome != "won":
            self.disputed += amount

    @invariant()
    def amounts_match_the_model(self):
        p = self.payment
        assert p.amount_captured == self.captured
        assert p.amount_refunded == self.refunded
        assert p.amount_refund_pending == sum(self.pending.values())
        assert 0 <= p.amount_refunded + p.amount_refund_pending <= p.amount_captured <= p.amount
        assert p.amount_disputed == min(self.disputed, self.captured)
        succeeded = sum(r.amount for r in p.refunds if r.status is RefundStatus.SUCCEEDED)
        assert succeeded == p.amount_refunded

    @invariant()
    def status_matches_the_model(self):
        expected = {"authorized": Status.REQUIRES_CAPTURE, "canceled": Status.CANCELED}.get(self.state)
        if self.state == "captured":
            if self.refunded == 0:
                expected = Status.CAPTURED
            elif self.refunded < self.captured:
                expected = Status.PARTIALLY_REFUNDED
            else:
                expected = Status.REFUNDED
        assert self.payment.status is expected


TestPaymentStateMachine = PaymentModel.TestCase
