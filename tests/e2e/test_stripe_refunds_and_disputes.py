"""Stripe refund lifecycle and dispute webhooks end to end: every event type, signed with
stripe's own helper, through the real Envoy; duplicates and out-of-order deliveries change
nothing twice. Dispute evidence and closing go to the real stripe-mock through the SDK."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from service.adapters.repository import SqlUnitOfWork
from service.domain import ids
from service.domain.model import CaptureMethod, Payment
from tests.e2e.test_webhooks import deliver, event, fetch

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": "Bearer sk_test_local"}


def store(stack, payment: Payment) -> Payment:
    async def add() -> None:
        engine = create_async_engine(stack.env["DATABASE_URL"])
        async with SqlUnitOfWork(engine) as uow:
            await uow.payments.add(payment)
            await uow.commit()
        await engine.dispose()

    asyncio.run(add())
    return payment


def captured_stripe_payment(stack, *, pending_refund: int = 0) -> Payment:
    """A captured Stripe payment (as after pi_... succeeded), optionally with one refund Stripe
    answered 'pending' (our id in its metadata, its re_... id recorded)."""
    payment = Payment.new(payment_id=ids.new_payment_id(), merchant_id="acct_local", amount=1000, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="stripe", payment_method="pm_card_visa")
    payment.authorized(f"pi_{uuid.uuid4().hex[:24]}", captured=True)
    if pending_refund:
        refund = payment.begin_refund(ids.new_refund_id(), pending_refund)
        refund.processor_reference = f"re_{uuid.uuid4().hex[:24]}"
    return store(stack, payment)


def stripe_refund(payment: Payment, status: str, *, amount: int | None = None, ours: bool = True,
                  failure_reason: str = "", reference: str = "") -> dict:
    refund = payment.refunds[0] if ours else None
    return {"id": reference or (refund.processor_reference if refund else f"re_{uuid.uuid4().hex[:24]}"),
            "object": "refund", "amount": amount or (refund.amount if refund else 250), "currency": "usd",
            "payment_intent": payment.processor_reference, "status": status,
            "metadata": {"refund_id": refund.refund_id} if refund else {},
            **({"failure_reason": failure_reason} if failure_reason else {})}


def stripe_dispute(payment: Payment, status: str, *, dispute_id: str, amount: int = 1000,
                   balance: tuple[int, ...] = ()) -> dict:
    return {"id": dispute_id, "object": "dispute", "amount": amount, "currency": "usd", "reason": "fraudulent",
            "status": status, "payment_intent": payment.processor_reference, "charge": "ch_1",
            "evidence_details": {"due_by": int(time.time()) + 7 * 86400},
            "balance_transactions": [{"object": "balance_transaction", "amount": a} for a in balance]}


def money(seen: dict) -> tuple:
    return (seen["status"], seen["amount_refunded"], [(r["status"], r.get("failure_reason", ""))
                                                      for r in seen["refunds"]])


def send(stack, kind: str, obj: dict, event_id: str | None = None) -> str:
    body = event(kind, obj, event_id)
    reply = deliver(stack, body)
    assert reply.status_code == 200 and reply.json() == {"received": True}, reply.text
    return body


def test_a_pending_stripe_refund_is_reserved_then_succeeds_then_fails_later(stack):
    payment = captured_stripe_payment(stack, pending_refund=400)
    steps = [("refund.created", "pending", ("CAPTURED", "0", [("REFUND_PENDING", "")])),
             ("refund.updated", "succeeded", ("PARTIALLY_REFUNDED", "400", [("REFUND_SUCCEEDED", "")])),
             ("charge.refund.updated", "failed",
              ("CAPTURED", "0", [("REFUND_FAILED", "expired_or_canceled_card")]))]
    bodies = []
    for kind, status, expected in steps:
        reason = "expired_or_canceled_card" if status == "failed" else ""
        bodies.append(send(stack, kind, stripe_refund(payment, status, failure_reason=reason)))
        assert money(fetch(stack, payment)) == expected, kind
    for body in bodies:  # every one again (duplicates), in reverse (out of order): nothing moves
        assert deliver(stack, body).status_code == 200
    send(stack, "refund.updated", stripe_refund(payment, "succeeded"))  # a new id, an older state
    seen = fetch(stack, payment)
    assert money(seen) == steps[-1][2]
    refund = httpx.post(f"{stack.rest}/v1/payments/{payment.payment_id}:process", headers=AUTH, timeout=15,
                        json={"action": "REFUND", "amount": 1001})
    assert refund.status_code == 400 and "refundable amount 1000" in refund.json()["message"], refund.text


def test_refund_failed_from_pending_releases_the_reservation(stack):
    payment = captured_stripe_payment(stack, pending_refund=1000)
    assert fetch(stack, payment)["refunds"][0]["status"] == "REFUND_PENDING"
    failed = stripe_refund(payment, "failed", failure_reason="lost_or_stolen_card")
    send(stack, "refund.failed", failed)
    send(stack, "refund.updated", stripe_refund(payment, "pending"))  # older, arriving late
    assert money(fetch(stack, payment)) == ("CAPTURED", "0", [("REFUND_FAILED", "lost_or_stolen_card")])


def test_a_refund_made_in_the_stripe_dashboard_is_recorded_once(stack):
    payment = captured_stripe_payment(stack)
    made = stripe_refund(payment, "succeeded", ours=False, amount=250)
    body = send(stack, "refund.created", made)
    assert deliver(stack, body).status_code == 200
    send(stack, "charge.refund.updated", made)  # the same refund under another event id
    seen = fetch(stack, payment)
    assert money(seen) == ("PARTIALLY_REFUNDED", "250", [("REFUND_SUCCEEDED", "")])


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_chargeback_withholds_its_amount_until_won_and_keeps_it_when_lost(stack, outcome):
    payment = captured_stripe_payment(stack)
    du = f"du_{uuid.uuid4().hex[:24]}"
    final_balance = (-1000, 1000) if outcome == "won" else (-1000,)
    steps = [("charge.dispute.created", stripe_dispute(payment, "needs_response", dispute_id=du), "1000"),
             ("charge.dispute.funds_withdrawn",
              stripe_dispute(payment, "needs_response", dispute_id=du, balance=(-1000,)), "1000"),
             ("charge.dispute.updated", stripe_dispute(payment, "under_review", dispute_id=du, balance=(-1000,)),
              "1000"),
             ("charge.dispute.closed", stripe_dispute(payment, outcome, dispute_id=du, balance=final_balance),
              "0" if outcome == "won" else "1000")]
    if outcome == "won":
        steps.append(("charge.dispute.funds_reinstated",
                      stripe_dispute(payment, "won", dispute_id=du, balance=final_balance), "0"))
    bodies = []
    for kind, obj, disputed in steps:
        bodies.append(send(stack, kind, obj))
        seen = fetch(stack, payment)
        assert (seen["amount_disputed"], seen["disputes"][0]["status"]) == (disputed, obj["status"].upper()), kind
    for body in reversed(bodies):  # duplicates, newest first: nothing moves twice
        assert deliver(stack, body).status_code == 200
    send(stack, "charge.dispute.updated", steps[0][1])  # a stale state under a new event id
    seen = fetch(stack, payment)
    assert len(seen["disputes"]) == 1
    assert (seen["status"], seen["amount_captured"], seen["amount_refunded"], seen["amount_disputed"]) == (
        "CAPTURED", "1000", "0", "0" if outcome == "won" else "1000")
    assert seen["disputes"][0]["status"] == outcome.upper()
    assert seen["disputes"][0]["reason"] == "fraudulent" and seen["disputes"][0]["evidence_due_by"]


def test_an_inquiry_moves_no_money(stack):
    payment = captured_stripe_payment(stack)
    du = f"du_{uuid.uuid4().hex[:24]}"
    send(stack, "charge.dispute.created", stripe_dispute(payment, "warning_needs_response", dispute_id=du))
    send(stack, "charge.dispute.closed", stripe_dispute(payment, "warning_closed", dispute_id=du))
    seen = fetch(stack, payment)
    assert (seen["amount_disputed"], seen["disputes"][0]["status"]) == ("0", "WARNING_CLOSED")


def test_dispute_evidence_and_close_go_to_stripe_through_the_sdk_and_name_their_errors(stack, grpcurl):
    payment = captured_stripe_payment(stack)
    du = f"du_{uuid.uuid4().hex[:24]}"
    send(stack, "charge.dispute.created", stripe_dispute(payment, "needs_response", dispute_id=du))
    dispute_id = fetch(stack, payment)["disputes"][0]["dispute_id"]
    base = f"{stack.rest}/v1/payments/{payment.payment_id}/disputes/{dispute_id}"
    evidence = {"evidence": {"product_description": "a teapot", "uncategorized_text": "delivered, signed for"},
                "submit": True}
    reply = httpx.post(f"{base}:submitEvidence", headers=AUTH, json=evidence, timeout=15)
    assert reply.status_code == 200, reply.text
    assert reply.json()["payment"]["disputes"][0]["evidence_submitted"] is True
    graphql = httpx.post(f"{stack.rest}/graphql", headers=AUTH, timeout=15, json={
        "query": "query($id: ID!) { payment(payment_id: $id) { amount_disputed disputes { dispute_id status "
                 "evidence_submitted amount } } }", "variables": {"id": payment.payment_id}})
    assert graphql.json()["data"]["payment"]["disputes"][0]["evidence_submitted"] is True, graphql.text
    grpc = grpcurl("payment.v1.PaymentService/CloseDispute", key="sk_test_local",
                   data={"payment_id": payment.payment_id, "dispute_id": dispute_id})
    assert grpc.returncode == 0, grpc.stderr
    assert json.loads(grpc.stdout)["payment"]["disputes"][0]["disputeId"] == dispute_id

    empty = httpx.post(f"{base}:submitEvidence", headers=AUTH, json={"evidence": {}}, timeout=15)
    assert empty.status_code == 400 and "evidence" in empty.json()["message"], empty.text
    malformed = httpx.post(f"{stack.rest}/v1/payments/{payment.payment_id}/disputes/du_1:close", headers=AUTH,
                           json={}, timeout=15)
    assert malformed.status_code == 400 and "dispute_id" in malformed.json()["message"], malformed.text
    unknown = httpx.post(f"{stack.rest}/v1/payments/{payment.payment_id}/disputes/{ids.new_dispute_id()}:close",
                         headers=AUTH, json={}, timeout=15)
    assert unknown.status_code == 404, unknown.text
    other = httpx.post(f"{base}:close", headers={"Authorization": "Bearer sk_test_other"}, json={}, timeout=15)
    assert other.status_code == 404, other.text
    for kind in ("charge.dispute.closed",):
        send(stack, kind, stripe_dispute(payment, "lost", dispute_id=du))
    closed = httpx.post(f"{base}:close", headers=AUTH, json={}, timeout=15)
    assert closed.status_code == 400 and "DISPUTE_CLOSED" in closed.text, closed.text
