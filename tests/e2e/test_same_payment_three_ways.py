"""The same payment read through REST (Envoy's transcoder), native gRPC
(grpcurl) and GraphQL (the gateway) is identical, field for field.

Each view prints it its own way; normalising only the representation (key
case, metadata as pairs, int64 as strings, enum names, and the default values
grpcurl's protobuf JSON leaves out) must leave nothing to tell them apart.
Every field of payment.v1.Payment and Refund is compared.
"""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from google.protobuf import json_format

from service.gen.payment.v1 import payment_pb2 as pb

pytestmark = pytest.mark.e2e

PAYMENT_FIELDS = [field.name for field in pb.Payment.DESCRIPTOR.fields]
REFUND_FIELDS = [field.name for field in pb.Refund.DESCRIPTOR.fields]
DISPUTE_FIELDS = [field.name for field in pb.Dispute.DESCRIPTOR.fields]
GRAPHQL_SELECTION = " ".join(
    "metadata { key value }" if name == "metadata" else
    f"refunds {{ {' '.join(REFUND_FIELDS)} }}" if name == "refunds" else
    f"disputes {{ {' '.join(DISPUTE_FIELDS)} }}" if name == "disputes" else name
    for name in PAYMENT_FIELDS)
GET = f"query Get($id: ID!) {{ payment(payment_id: $id) {{ {GRAPHQL_SELECTION} }} }}"


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def with_defaults(message: dict, empty) -> dict:
    """The protobuf JSON mapping omits fields at their default value: put them back."""
    defaults = json_format.MessageToDict(empty, always_print_fields_with_no_presence=True)
    filled = {**defaults, **message}
    if "refunds" in filled:
        filled["refunds"] = [with_defaults(refund, pb.Refund()) for refund in filled["refunds"]]
    return filled


def normalise(payment: dict) -> dict:
    """One representation: snake_case keys, metadata as a dict, every scalar a string."""
    out = {}
    for key, value in payment.items():
        key = snake(key)
        if key == "metadata" and isinstance(value, list):
            value = {entry["key"]: entry["value"] for entry in value}
        elif key == "refunds":
            value = [normalise(refund) for refund in value]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        out[key] = value
    return out


@pytest.fixture
def payment_id(stack, e2e_key) -> str:
    """A payment with every field filled: metadata, customer, description, a capture and two refunds."""
    with httpx.Client(base_url=stack.rest, headers={"Authorization": f"Bearer {e2e_key}"}, timeout=15) as http:
        created = http.post("/v1/payments", json={
            "amount": "12345678901", "currency": "usd", "payment_method": "pm_card_visa",
            "customer_id": f"cus_{uuid.uuid4().hex[:8]}", "description": "three ways",
            "metadata": {"order": "A-7", "channel": "web", "empty": ""}})
        assert created.status_code == 200, created.text
        payment_id = created.json()["payment"]["payment_id"]
        path = f"/v1/payments/{payment_id}:process"
        assert http.post(path, json={"action": "CAPTURE", "amount": "12345678000"}).status_code == 200
        assert http.post(path, json={"action": "REFUND", "amount": "1000", "reason": "damaged"}).status_code == 200
        assert http.post(path, json={"action": "REFUND", "amount": 5}).status_code == 200
    return payment_id


def test_the_same_payment_three_ways(stack, e2e_key, grpcurl, payment_id):
    auth = {"Authorization": f"Bearer {e2e_key}"}
    rest = httpx.get(f"{stack.rest}/v1/payments/{payment_id}", headers=auth, timeout=15)
    assert rest.status_code == 200, rest.text
    grpc = grpcurl("payment.v1.PaymentService/GetPayment", key=e2e_key, data={"payment_id": payment_id})
    assert grpc.returncode == 0, grpc.stderr
    graphql = httpx.post(f"{stack.rest}/graphql", json={"query": GET, "variables": {"id": payment_id}},
                         headers=auth, timeout=15)
    assert "errors" not in graphql.json(), graphql.text

    views = {"rest": normalise(rest.json()["payment"]),
             "grpc": normalise(with_defaults(json.loads(grpc.stdout)["payment"], pb.Payment())),
             "graphql": normalise(graphql.json()["data"]["payment"])}
    for name, view in views.items():
        assert sorted(view) == sorted(PAYMENT_FIELDS), name
        assert [sorted(refund) for refund in view["refunds"]] == [sorted(REFUND_FIELDS)] * 2, name
    assert views["rest"] == views["grpc"] == views["graphql"]

    payment = views["graphql"]
    assert (payment["amount"], payment["amount_captured"], payment["amount_refunded"]) == (
        "12345678901", "12345678000", "1005")
    assert payment["status"] == "PARTIALLY_REFUNDED" and payment["capture_method"] == "MANUAL"
    assert payment["metadata"] == {"order": "A-7", "channel": "web", "empty": ""}
    assert [(r["amount"], r["reason"], r["status"]) for r in payment["refunds"]] == [
        ("1000", "damaged", "REFUND_SUCCEEDED"), ("5", "", "REFUND_SUCCEEDED")]
