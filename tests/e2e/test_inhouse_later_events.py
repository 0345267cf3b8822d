"""The in-house processor changes things later, as real processors do, and says so with its
own signed webhooks, end to end: the REST API through Envoy, the simulator's sender (the real
`payment-service inhouse-simulator` command) posting to POST /webhooks/inhouse through Envoy.
The amounts are checked at every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from service.adapters.processors import signing

pytestmark = pytest.mark.e2e
SECRET = "whsec_inhouse_e2e"


@pytest.fixture
def api(stack, e2e_key):
    with httpx.Client(base_url=stack.rest, headers={"Authorization": f"Bearer {e2e_key}"}, timeout=15) as client:
        yield client


@pytest.fixture
def simulate(stack, record):
    """One pass of the in-house simulator: what is due happens, and its webhooks are sent."""
    env = {**os.environ, "DATABASE_URL": stack.env["DATABASE_URL"], "INHOUSE_WEBHOOK_SECRET": SECRET,
           "INHOUSE_WEBHOOK_URL": f"{stack.rest}/webhooks/inhouse", "LOG_LEVEL": "WARNING"}

    def run() -> dict:
        done = subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "inhouse-simulator", "--once"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["failed"] == 0, result
        return result

    return run


def pay(api, method: str, amount: int = 1000) -> str:
    created = api.post("/v1/payments", json={"amount": amount, "currency": "USD", "payment_method": method,
                                             "capture_method": "AUTOMATIC"})
    assert created.status_code == 200, created.text
    assert created.json()["payment"]["status"] == "CAPTURED"
    return created.json()["payment"]["payment_id"]


def money(api, payment_id: str) -> dict:
    payment = api.get(f"/v1/payments/{payment_id}").json()["payment"]
    return {"status": payment["status"], "refunded": int(payment["amount_refunded"]),
            "disputed": int(payment.get("amount_disputed", 0)),
            "refunds": [(r["status"], r.get("failure_reason", "")) for r in payment.get("refunds", [])],
            "disputes": [(d["status"], bool(d.get("evidence_submitted"))) for d in payment.get("disputes", [])],
            "dispute_ids": [d["dispute_id"] for d in payment.get("disputes", [])]}


def test_a_refund_accepted_then_failing_later_releases_its_amount(api, simulate, record):
    payment_id = pay(api, "pm_card_refundFail")
    refunded = api.post(f"/v1/payments/{payment_id}:process", json={"action": "REFUND", "amount": 400})
    assert refunded.status_code == 200, refunded.text
    step1 = money(api, payment_id)
    assert (step1["status"], step1["refunded"], step1["refunds"]) == ("CAPTURED", 0, [("REFUND_PENDING", "")])
    over = api.post(f"/v1/payments/{payment_id}:process", json={"action": "REFUND", "amount": 601})
    assert over.status_code == 400  # the pending 400 is reserved
    simulate()
    step2 = money(api, payment_id)
    assert (step2["status"], step2["refunded"], step2["refunds"]) == (
        "CAPTURED", 0, [("REFUND_FAILED", "expired_or_canceled_card")])
    again = api.post(f"/v1/payments/{payment_id}:process", json={"action": "REFUND", "amount": 1000})
    assert again.status_code == 200 and again.json()["payment"]["refunds"][1]["status"] == "REFUND_PENDING"
    record("in-house refund that fails later", after_refund=step1["refunded"], reserved=400,
           after_failure=step2["refunded"], refundable_again=1000)


def test_a_dispute_won_with_evidence_gives_the_amount_back(api, simulate, record):
    payment_id = pay(api, "pm_card_createDispute")
    assert money(api, payment_id)["disputes"] == []
    simulate()
    opened = money(api, payment_id)
    assert (opened["disputed"], opened["disputes"]) == (1000, [("NEEDS_RESPONSE", False)])
    dispute_id = opened["dispute_ids"][0]
    reply = api.post(f"/v1/payments/{payment_id}/disputes/{dispute_id}:submitEvidence",
                     json={"evidence": {"uncategorized_text": "winning_evidence", "customer_name": "Ada"},
                           "submit": True})
    assert reply.status_code == 200, reply.text
    review = money(api, payment_id)
    assert (review["disputed"], review["disputes"]) == (1000, [("UNDER_REVIEW", True)])
    simulate()
    won = money(api, payment_id)
    assert (won["status"], won["refunded"], won["disputed"], won["disputes"]) == (
        "CAPTURED", 0, 0, [("WON", True)])
    record("in-house dispute won", opened=opened["disputed"], under_review=review["disputed"], won=won["disputed"])


def test_a_dispute_accepted_as_lost_keeps_the_amount_withheld(api, simulate, record):
    payment_id = pay(api, "pm_card_createDispute", amount=2500)
    simulate()
    dispute_id = money(api, payment_id)["dispute_ids"][0]
    closed = api.post(f"/v1/payments/{payment_id}/disputes/{dispute_id}:close", json={})
    assert closed.status_code == 200, closed.text
    lost = money(api, payment_id)
    assert (lost["disputed"], lost["disputes"]) == (2500, [("LOST", False)])
    simulate()  # the dispute.closed webhook arrives after the answer: nothing changes twice
    assert money(api, payment_id) == lost
    refund = api.post(f"/v1/payments/{payment_id}:process", json={"action": "REFUND", "amount": 1})
    assert refund.status_code == 400  # nothing left to refund: the merchant kept 0
    again = api.post(f"/v1/payments/{payment_id}/disputes/{dispute_id}:close", json={})
    assert again.status_code == 400 and "DISPUTE_CLOSED" in again.text
    record("in-house dispute lost", disputed=lost["disputed"], kept=2500 - lost["disputed"])


def test_an_inquiry_moves_no_money(api, simulate):
    payment_id = pay(api, "pm_card_createDisputeInquiry")
    simulate()
    inquiry = money(api, payment_id)
    assert (inquiry["disputed"], inquiry["disputes"]) == (0, [("WARNING_NEEDS_RESPONSE", False)])


def test_inhouse_webhooks_need_the_signature_and_apply_once(stack, api, simulate):
    payment_id = pay(api, "pm_card_createDispute")
    simulate()
    payment = api.get(f"/v1/payments/{payment_id}").json()["payment"]
    body = json.dumps({"id": f"ihevt_{uuid.uuid4().hex}", "type": "dispute.closed", "data": {"object": {
        "object": "dispute", "id": payment["disputes"][0]["processor_reference"],
        "payment": payment["processor_reference"], "amount": 1000, "status": "WON", "funds_reinstated": True}}})
    url = f"{stack.rest}/webhooks/inhouse"
    forged = httpx.post(url, content=body, headers={"Inhouse-Signature": signing.sign("whsec_not_ours",
                                                                                      body.encode())})
    stale = httpx.post(url, content=body, headers={"Inhouse-Signature": signing.sign(SECRET, body.encode(),
                                                                                     timestamp=1)})
    missing = httpx.post(url, content=body)
    for reply in (forged, stale, missing):
        assert reply.status_code == 400 and "inhouse-signature" in reply.json()["message"], reply.text
    assert money(api, payment_id)["disputed"] == 1000
    for _ in range(2):  # the same event twice
        signed = httpx.post(url, content=body, headers={"Inhouse-Signature": signing.sign(SECRET, body.encode())})
        assert signed.status_code == 200 and signed.json() == {"received": True}
    assert (money(api, payment_id)["disputed"], money(api, payment_id)["disputes"][0][0]) == (0, "WON")
