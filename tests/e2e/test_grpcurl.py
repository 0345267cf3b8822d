"""Native gRPC through the same Envoy port, with the real grpcurl."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.e2e

SERVICE = "payment.v1.PaymentService"


def ok(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_reflection_lists_the_services(grpcurl):
    services = grpcurl("list")
    assert services.returncode == 0, services.stderr
    listed = set(services.stdout.split())
    assert {SERVICE, "payment.v1.WebhookService", "grpc.health.v1.Health"} <= listed


def test_describe_shows_the_rpcs_and_their_http_bindings(grpcurl):
    described = grpcurl("describe", SERVICE)
    assert described.returncode == 0, described.stderr
    for rpc in ("CreatePayment", "GetPayment", "ListPayments", "ProcessPayment", "HealthCheck"):
        assert f"rpc {rpc} (" in described.stdout
    message = grpcurl("describe", "payment.v1.Payment")
    assert "int64 amount_refunded" in message.stdout


def test_standard_health_service(grpcurl):
    assert ok(grpcurl("grpc.health.v1.Health/Check")) == {"status": "SERVING"}
    named = ok(grpcurl("grpc.health.v1.Health/Check", data={"service": SERVICE}))
    assert named == {"status": "SERVING"}


def test_each_rpc(grpcurl, e2e_key):
    health = ok(grpcurl(f"{SERVICE}/HealthCheck"))
    assert health["status"] == "SERVING"
    created = ok(grpcurl(f"{SERVICE}/CreatePayment", key=e2e_key,
                         data={"amount": 1234, "currency": "EUR", "metadata": {"via": "grpcurl"}}))["payment"]
    assert created["status"] == "REQUIRES_CAPTURE" and created["amount"] == "1234"
    payment_id = created["paymentId"]
    fetched = ok(grpcurl(f"{SERVICE}/GetPayment", key=e2e_key, data={"payment_id": payment_id}))["payment"]
    assert fetched == created
    listed = ok(grpcurl(f"{SERVICE}/ListPayments", key=e2e_key, data={"page_size": 5}))
    assert [p["paymentId"] for p in listed["payments"]] == [payment_id]
    captured = ok(grpcurl(f"{SERVICE}/ProcessPayment", key=e2e_key,
                          data={"payment_id": payment_id, "action": "CAPTURE"}))["payment"]
    assert captured["status"] == "CAPTURED"
    refunded = ok(grpcurl(f"{SERVICE}/ProcessPayment", key=e2e_key,
                          data={"payment_id": payment_id, "action": "REFUND", "amount": 234}))["payment"]
    assert refunded["status"] == "PARTIALLY_REFUNDED" and refunded["amountRefunded"] == "234"


def test_idempotency_metadata(grpcurl, e2e_key):
    header = f"idempotency-key: grpcurl-{uuid.uuid4()}"
    data = {"amount": 50, "currency": "USD"}
    first = ok(grpcurl(f"{SERVICE}/CreatePayment", key=e2e_key, data=data, headers=(header,)))
    again = ok(grpcurl(f"{SERVICE}/CreatePayment", key=e2e_key, data=data, headers=(header,)))
    assert again == first


@pytest.mark.parametrize("data, key, code, text", [
    ({"amount": 100, "currency": "NOPE"}, True, 3, "currency"),  # INVALID_ARGUMENT
    ({"amount": 0, "currency": "USD"}, True, 3, "amount"),
    ({"amount": 100, "currency": "USD"}, False, 16, "authorization"),  # UNAUTHENTICATED
])
def test_errors_carry_grpc_codes(grpcurl, e2e_key, data, key, code, text):
    result = grpcurl(f"{SERVICE}/CreatePayment", key=e2e_key if key else None, data=data)
    assert result.returncode == 64 + code  # grpcurl exits with 64 + the status code
    error = json.loads(result.stderr)  # grpcurl prints the status on stderr
    assert error["code"] == code and text in error["message"]
    assert "ErrorInfo" in json.dumps(error["details"])


def test_not_found(grpcurl, e2e_key):
    result = grpcurl(f"{SERVICE}/GetPayment", key=e2e_key, data={"payment_id": "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"})
    assert result.returncode == 64 + 5 and json.loads(result.stderr)["code"] == 5  # NOT_FOUND
