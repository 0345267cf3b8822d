"""Authorization, Idempotency-Key, x-request-id and W3C trace context travel
from the HTTP request to every gRPC call made for it."""

from __future__ import annotations

import uuid

import pytest

from gateway.client import USER_AGENT, call_metadata
from gateway.errors import ApiError
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import AUTH, KEY, create_payment, only_error, post

pytestmark = pytest.mark.unit

gateway, payment_api = harness.gateway, harness.payment_api  # shared fixtures

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TWO_READS = """query Two($a: ID!, $b: ID!) {
  first: payment(payment_id: $a) { payment_id } second: payment(payment_id: $b) { payment_id } }"""


def test_the_five_headers_are_forwarded_and_nothing_else():
    headers = {"authorization": "Bearer k", "idempotency-key": "idem-1", "x-request-id": "req-1",
               "traceparent": TRACEPARENT, "tracestate": "vendor=opaque", "cookie": "session=secret",
               "x-forwarded-for": "10.0.0.1"}
    metadata = call_metadata(headers)
    assert dict(metadata.pairs) == {"authorization": "Bearer k", "idempotency-key": "idem-1",
                                    "x-request-id": "req-1", "traceparent": TRACEPARENT,
                                    "tracestate": "vendor=opaque"}
    assert metadata.request_id == "req-1"
    assert metadata.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_request_id_is_generated_when_absent():
    metadata = call_metadata({})
    assert uuid.UUID(metadata.request_id)
    assert dict(metadata.pairs) == {"x-request-id": metadata.request_id}


@pytest.mark.parametrize("given", ["", "   ", "r" * 201, "caf\u00e9", "line\nbreak"])
def test_an_unsendable_request_id_is_replaced(given):
    metadata = call_metadata({"x-request-id": given})
    assert uuid.UUID(metadata.request_id)


@pytest.mark.parametrize("traceparent", [
    "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
def test_an_invalid_traceparent_is_dropped_with_its_tracestate(traceparent):
    metadata = call_metadata({"traceparent": traceparent, "tracestate": "a=b"})
    assert {name for name, _ in metadata.pairs} == {"x-request-id"}
    assert metadata.trace_id == ""


def test_an_authorization_grpc_cannot_carry_is_unauthenticated():
    with pytest.raises(ApiError) as raised:
        call_metadata({"authorization": "Bearer caf\u00e9"})
    assert raised.value.extensions["code"] == "UNAUTHENTICATED"
    assert "caf" not in raised.value.message


def test_an_idempotency_key_grpc_cannot_carry_is_refused_not_dropped():
    with pytest.raises(ApiError) as raised:
        call_metadata({"idempotency-key": "caf\u00e9"})
    assert raised.value.extensions["code"] == "INVALID_ARGUMENT"
    assert raised.value.extensions["field_violations"][0]["field"] == "Idempotency-Key"


async def test_every_call_of_a_request_carries_the_metadata(gateway, payment_api):
    payment = await create_payment(gateway)
    before = len(payment_api.recorder.calls)
    headers = {**AUTH, "X-Request-Id": "req-two-reads", "traceparent": TRACEPARENT, "tracestate": "v=1"}
    response = await post(gateway, TWO_READS, {"a": payment["payment_id"], "b": payment["payment_id"]},
                          headers=headers)
    assert response.headers["x-request-id"] == "req-two-reads"
    calls = payment_api.recorder.calls[before:]
    assert [method for method, _ in calls] == ["/payment.v1.PaymentService/GetPayment"] * 2
    for _, metadata in calls:
        assert metadata["authorization"] == f"Bearer {KEY}"
        assert metadata["x-request-id"] == "req-two-reads"
        assert metadata["traceparent"] == TRACEPARENT and metadata["tracestate"] == "v=1"
        assert metadata["user-agent"].startswith(USER_AGENT)


async def test_the_generated_request_id_is_the_one_the_service_sees(gateway, payment_api):
    response = await post(gateway, "{ payments { next_page_token } }")
    sent = payment_api.recorder.last("ListPayments")["x-request-id"]
    assert response.headers["x-request-id"] == sent
    assert uuid.UUID(sent)


async def test_idempotency_key_header_makes_a_retry_return_the_first_payment(gateway, payment_api):
    headers = {**AUTH, "Idempotency-Key": f"idem-{uuid.uuid4()}"}
    first = await create_payment(gateway, headers=headers)
    again = await create_payment(gateway, headers=headers)
    assert again == first
    assert payment_api.recorder.last("CreatePayment")["idempotency-key"] == headers["Idempotency-Key"]


async def test_unsendable_headers_are_refused_before_any_call(gateway, payment_api):
    before = len(payment_api.recorder.calls)
    response = await post(gateway, "{ payments { next_page_token } }",
                          headers={**AUTH, "Idempotency-Key": "caf\u00e9".encode()})
    assert response.status_code == 400
    assert only_error(response)["extensions"]["field_violations"][0]["field"] == "Idempotency-Key"
    response = await post(gateway, "{ payments { next_page_token } }",
                          headers={"Authorization": "Bearer caf\u00e9".encode()})
    assert response.status_code == 401
    assert only_error(response)["extensions"]["code"] == "UNAUTHENTICATED"
    assert len(payment_api.recorder.calls) == before
