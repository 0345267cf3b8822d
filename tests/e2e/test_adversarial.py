"""A small adversarial pass over the running stack (issue 15): malformed input generated from a
seeded random source, sent through Envoy (REST, gRPC, GraphQL, webhooks) and to the direct gRPC
port. Whatever comes back, it is never a 5xx / INTERNAL / UNKNOWN, and the service logs no ERROR.
The counts are recorded as the test's figures."""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter

import grpc
import httpx
import pytest
import stripe

from service.adapters.processors import signing

pytestmark = pytest.mark.e2e

SEED = 15
ROUNDS = 40
NASTY_STRINGS = ["pay_\udfff", "\x00", "\x1b[2J", "4242 4242 4242 4242", "%FF", "pay_" + "x" * 3000, "[" * 1100,
                 "\u202e", "'; drop table payments; --", "{{7*7}}", "\\", "\ufeff", "١٢٣", "9" * 40, "-1", "1e309",
                 "NaN", "null", "true", "[]", "{}"]
NASTY_VALUES = [*NASTY_STRINGS, 1.5, -1, 2**64, True, None, [], {}, [1], {"a": 1}]
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}


def pick(rng: random.Random, values: list):
    return values[rng.randrange(len(values))]


def rest_requests(rng: random.Random) -> list[tuple[str, str, bytes | None]]:
    text = pick(rng, NASTY_STRINGS).encode("utf-8", "surrogatepass")
    raw = rng.randbytes(rng.randrange(1, 64))
    body = json.dumps({"amount": pick(rng, NASTY_VALUES), "currency": pick(rng, NASTY_VALUES),
                       "description": pick(rng, NASTY_STRINGS), "metadata": {pick(rng, NASTY_STRINGS): "v"}},
                      ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    quoted = "".join(f"%{byte:02X}" for byte in text[:200])
    return [
        ("GET", f"/v1/payments/{quoted}", None),
        ("GET", f"/v1/payments?page_token={quoted}&customer_id={quoted}", None),
        ("GET", f"/v1/payments?page_size={quoted}&status={quoted}", None),
        ("GET", "/v1/payments?page_token=" + base64.urlsafe_b64encode(raw).decode(), None),
        ("POST", "/v1/payments", body),
        ("POST", "/v1/payments", raw),
        ("POST", "/v1/payments/pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K:process", json.dumps(
            {"action": pick(rng, NASTY_VALUES), "amount": pick(rng, NASTY_VALUES),
             "reason": pick(rng, NASTY_STRINGS)}).encode("utf-8", "surrogatepass")),
    ]


def graphql_bodies(rng: random.Random) -> list[bytes]:
    value = json.dumps(pick(rng, NASTY_VALUES))
    literal = pick(rng, ["1.5", '"abc"', "true", "99999999999999999999", "[1]", "{a: 1}", "null", "-0", "0x10"])
    return [
        json.dumps({"query": f'mutation {{ create_payment(payload: {{amount: {literal}, currency: "USD"}}) '
                             f"{{ payment_id }} }}"}).encode(),
        json.dumps({"query": "query G($id: ID!) { payment(payment_id: $id) { payment_id } }",
                    "variables": {"id": pick(rng, NASTY_VALUES)}}).encode("utf-8", "surrogatepass"),
        ('{"query": "{ payments { next_page_token } }", "variables": {"a": ' + value + ', "a": 1}}').encode(),
        json.dumps({"query": "{ " + "a: __typename " * rng.randrange(1, 40) + "}"}).encode(),
        rng.randbytes(rng.randrange(1, 200)),
    ]


def webhook_events(rng: random.Random) -> list[dict]:
    obj = {"id": pick(rng, NASTY_VALUES), "object": "payment_intent", "status": "succeeded",
           "amount": pick(rng, NASTY_VALUES), "amount_received": pick(rng, NASTY_VALUES),
           "payment": pick(rng, NASTY_VALUES), "metadata": pick(rng, NASTY_VALUES)}
    return [{"id": pick(rng, NASTY_VALUES), "type": pick(rng, ["payment_intent.succeeded", "refund.failed",
                                                                 "dispute.created", *NASTY_STRINGS]),
             "data": {"object": obj}}]


def test_malformed_input_never_gets_a_5xx(stack, e2e_key, record):
    rng = random.Random(SEED)
    statuses: Counter[str] = Counter()
    before = len(stack.service_log())
    auth = {"authorization": f"Bearer {e2e_key}"}
    with httpx.Client(base_url=stack.rest, timeout=30) as client, \
            grpc.insecure_channel(stack.grpc) as edge, \
            grpc.insecure_channel(f"127.0.0.1:{stack.env['GRPC_PORT']}") as direct:
        for _ in range(ROUNDS):
            for method, path, body in rest_requests(rng):
                headers = {**auth, "content-type": "application/json"} if rng.random() < 0.8 else {}
                statuses[f"rest {client.request(method, path, content=body, headers=headers).status_code}"] += 1
            for body in graphql_bodies(rng):
                response = client.post("/graphql", content=body, headers={**auth, "content-type": "application/json"})
                statuses[f"graphql {response.status_code}"] += 1
            for event in webhook_events(rng):
                text = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")
                stamp = int(time.time())
                stripe_signature = stripe.WebhookSignature._compute_signature(
                    f"{stamp}.{text.decode('utf-8', 'replace')}", "whsec_test_e2e")
                for path, header in (("/webhooks/stripe", f"t={stamp},v1={stripe_signature}"),
                                     ("/webhooks/inhouse", signing.sign("whsec_inhouse_e2e", text))):
                    name = "stripe-signature" if "stripe" in path else "inhouse-signature"
                    response = client.post(path, content=text, headers={name: header})
                    statuses[f"webhook {response.status_code}"] += 1
            payload = rng.randbytes(rng.randrange(0, 80))
            for label, channel in (("grpc-edge", edge), ("grpc-direct", direct)):
                for method in ("GetPayment", "ListPayments", "CreatePayment", "ProcessPayment"):
                    call = channel.unary_unary(f"/payment.v1.PaymentService/{method}")
                    try:
                        call(payload, metadata=tuple(auth.items()), timeout=30)
                        code = grpc.StatusCode.OK
                    except grpc.RpcError as exc:
                        code = exc.code()
                    statuses[f"{label} {code.name}"] += 1
    time.sleep(0.5)
    errors = [line for line in stack.service_log()[before:] if line.get("level") in ("ERROR", "CRITICAL")]
    total = sum(statuses.values())
    server_errors = sum(count for key, count in statuses.items()
                        if key.split()[-1].startswith("5") or key.split()[-1] in {c.name for c in BAD_CODES})
    record("adversarial pass: malformed REST, GraphQL, webhooks, raw gRPC (edge and direct)",
           requests=total, server_errors=server_errors, error_log_lines=len(errors), seed=SEED,
           by_answer=dict(sorted(statuses.items())))
    print(json.dumps(dict(sorted(statuses.items()))))
    assert server_errors == 0, statuses
    assert not errors, errors[:3]
