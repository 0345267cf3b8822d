"""Stripe webhooks end to end: signed by stripe's own helper, through the real
Envoy (raw body -> google.api.HttpBody), verified, applied once, in any order."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from service.adapters.repository import SqlUnitOfWork
from service.adapters.tables import webhook_events
from service.domain import ids
from service.domain.model import CaptureMethod, Payment, PendingAction, Status

pytestmark = pytest.mark.e2e

SECRET = "whsec_test_e2e"


def stripe_payment(merchant: str, status: Status = Status.REQUIRES_CAPTURE, amount: int = 1000) -> Payment:
    payment = Payment.new(payment_id=ids.new_payment_id(), merchant_id=merchant, amount=amount, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="stripe", payment_method="pm_card_visa")
    if status is Status.REQUIRES_CAPTURE:
        payment.authorized(f"pi_{uuid.uuid4().hex[:24]}", captured=False)
    return payment


@pytest.fixture
def store(stack):
    """Writes payments straight through the real repository (a Stripe payment without stripe.com)."""
    async def add(payment: Payment) -> Payment:
        engine = create_async_engine(stack.env["DATABASE_URL"])
        async with SqlUnitOfWork(engine) as uow:
            await uow.payments.add(payment)
            await uow.commit()
        await engine.dispose()
        return payment

    def run(payment: Payment) -> Payment:
        return asyncio.run(add(payment))

    return run


def events_recorded(stack, event_id: str) -> int:
    async def count() -> int:
        engine = create_async_engine(stack.env["DATABASE_URL"])
        async with engine.connect() as connection:
            found = (await connection.execute(
                select(func.count()).where(webhook_events.c.event_id == event_id))).scalar()
        await engine.dispose()
        return found

    return asyncio.run(count())


def event(kind: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps({"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
                       "data": {"object": obj}})


def intent(payment: Payment, status: str, **extra) -> dict:
    return {"id": payment.processor_reference or f"pi_{uuid.uuid4().hex[:24]}", "object": "payment_intent",
            "amount": payment.amount, "status": status,
            "metadata": {"payment_id": payment.payment_id, "merchant_id": payment.merchant_id}, **extra}


def charge(payment: Payment, refunded: int, captured: int | None = None) -> dict:
    return {"id": f"ch_{uuid.uuid4().hex[:24]}", "object": "charge", "payment_intent": payment.processor_reference,
            "amount": payment.amount, "amount_captured": captured or payment.amount, "amount_refunded": refunded}


def deliver(stack, body: str, *, secret: str = SECRET, timestamp: int | None = None,
            signature: str | None = None) -> httpx.Response:
    header = signature if signature is not None else stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=timestamp)
    headers = {"Content-Type": "application/json", **({"Stripe-Signature": header} if header else {})}
    return httpx.post(f"{stack.rest}/webhooks/stripe", content=body.encode(), headers=headers, timeout=15)


def fetch(stack, payment: Payment) -> dict:
    reply = httpx.get(f"{stack.rest}/v1/payments/{payment.payment_id}",
                      headers={"Authorization": "Bearer sk_test_local"}, timeout=15)
    assert reply.status_code == 200, reply.text
    return reply.json()["payment"]


def test_succeeded_captures_once_even_when_delivered_twice(stack, store):
    payment = store(stripe_payment("acct_local"))
    body = event("payment_intent.succeeded", intent(payment, "succeeded", amount_received=800))
    for _ in range(2):
        reply = deliver(stack, body)
        assert reply.status_code == 200 and reply.json() == {"received": True}
    seen = fetch(stack, payment)
    assert (seen["status"], seen["amount_captured"]) == ("CAPTURED", "800")
    assert events_recorded(stack, json.loads(body)["id"]) == 1


def test_refunds_made_at_stripe_are_recorded_and_old_events_change_nothing(stack, store):
    payment = store(stripe_payment("acct_local"))
    deliver(stack, event("payment_intent.succeeded", intent(payment, "succeeded", amount_received=1000)))
    newer = event("charge.refunded", charge(payment, refunded=300))
    assert deliver(stack, newer).status_code == 200
    assert deliver(stack, event("charge.refunded", charge(payment, refunded=100))).status_code == 200  # older
    assert deliver(stack, newer).status_code == 200  # duplicate
    seen = fetch(stack, payment)
    assert (seen["status"], seen["amount_refunded"]) == ("PARTIALLY_REFUNDED", "300")
    assert [r["amount"] for r in seen["refunds"]] == ["300"]


def test_out_of_order_refund_before_success(stack, store):
    payment = store(stripe_payment("acct_local"))
    deliver(stack, event("charge.refunded", charge(payment, refunded=1000)))
    deliver(stack, event("payment_intent.succeeded", intent(payment, "succeeded", amount_received=1000)))
    seen = fetch(stack, payment)
    assert (seen["status"], seen["amount_captured"], seen["amount_refunded"]) == ("REFUNDED", "1000", "1000")


def test_canceled_and_failed(stack, store):
    authorized = store(stripe_payment("acct_local"))
    deliver(stack, event("payment_intent.canceled", intent(authorized, "canceled")))
    assert fetch(stack, authorized)["status"] == "CANCELED"
    pending = store(stripe_payment("acct_local", status=Status.PROCESSING))
    assert pending.pending_action is PendingAction.AUTHORIZE
    failed = intent(pending, "requires_payment_method",
                    last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds",
                                        "message": "Your card has insufficient funds."})
    deliver(stack, event("payment_intent.payment_failed", failed))
    seen = fetch(stack, pending)
    assert (seen["status"], seen["failure_code"]) == ("FAILED", "insufficient_funds")


def test_other_event_types_are_acknowledged_and_ignored(stack):
    reply = deliver(stack, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert reply.status_code == 200 and reply.json() == {"received": True}


@pytest.mark.parametrize("case", ["missing", "wrong secret", "stale", "tampered", "garbage", "not an event"])
def test_bad_deliveries_are_400_and_change_nothing(stack, store, case):
    payment = store(stripe_payment("acct_local"))
    body = event("payment_intent.succeeded", intent(payment, "succeeded", amount_received=1000))
    if case == "missing":
        reply = deliver(stack, body, signature="")
    elif case == "wrong secret":
        reply = deliver(stack, body, secret="whsec_not_ours")
    elif case == "stale":
        reply = deliver(stack, body, timestamp=int(time.time()) - 301)
    elif case == "tampered":
        header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
        reply = deliver(stack, body.replace('"amount_received": 1000', '"amount_received": 9'), signature=header)
    elif case == "garbage":
        reply = deliver(stack, "\x00not json at all")
    else:
        reply = deliver(stack, json.dumps({"hello": "world"}))
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == 3
    assert fetch(stack, payment)["status"] == "REQUIRES_CAPTURE"
    assert SECRET not in reply.text
