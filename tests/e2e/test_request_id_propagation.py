"""One request id from the caller to the payment service's log, whichever way
the call comes in: REST through Envoy's transcoder, GraphQL through Envoy and
the gateway, or native gRPC. The payment service logs one JSON line per RPC
with its request_id (and the trace id of a W3C traceparent)."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
CREATE = 'mutation { create_payment(payload: {amount: "1500", currency: "USD"}) { payment_id } }'
GET = "query Get($id: ID!) { payment(payment_id: $id) { payment_id } }"


def rpc_line(stack, method: str, request_id: str, timeout: float = 5.0) -> dict:
    """The payment service's log line for `method` with `request_id` (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in stack.service_log()
                 if line.get("rpc") == f"/payment.v1.PaymentService/{method}" and line.get("request_id") == request_id]
        if lines or time.monotonic() > deadline:
            assert len(lines) == 1, f"expected one {method} line with request_id {request_id!r}, got {lines}"
            return lines[0]
        time.sleep(0.1)


def gateway_lines(stack, request_id: str, timeout: float = 5.0) -> list[dict]:
    """The gateway's log lines with `request_id` (waits for them: the access line follows the response)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = (stack.log_dir / "graphql.log").read_text().splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{") and request_id in line]
        if any("operation" in line for line in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture
def http(stack, e2e_key):
    with httpx.Client(base_url=stack.rest, headers={"Authorization": f"Bearer {e2e_key}"}, timeout=15) as client:
        yield client


def test_rest_request_id_reaches_the_service(stack, http):
    create_id, get_id = f"rest-create-{uuid.uuid4()}", f"rest-get-{uuid.uuid4()}"
    created = http.post("/v1/payments", json={"amount": 1500, "currency": "USD"},
                        headers={"x-request-id": create_id, "traceparent": TRACEPARENT})
    assert created.status_code == 200, created.text
    assert rpc_line(stack, "CreatePayment", create_id)["trace_id"] == TRACE_ID
    payment_id = created.json()["payment"]["payment_id"]
    assert http.get(f"/v1/payments/{payment_id}", headers={"x-request-id": get_id}).status_code == 200
    assert rpc_line(stack, "GetPayment", get_id)["grpc_code"] == "OK"


def test_graphql_request_id_reaches_the_service(stack, http):
    create_id, get_id = f"gql-create-{uuid.uuid4()}", f"gql-get-{uuid.uuid4()}"
    created = http.post("/graphql", json={"query": CREATE},
                        headers={"x-request-id": create_id, "traceparent": TRACEPARENT})
    assert created.headers["x-request-id"] == create_id
    payment_id = created.json()["data"]["create_payment"]["payment_id"]
    line = rpc_line(stack, "CreatePayment", create_id)
    assert line["trace_id"] == TRACE_ID and line["user_agent"].startswith("payment-graphql/")
    fetched = http.post("/graphql", json={"query": GET, "variables": {"id": payment_id}},
                        headers={"x-request-id": get_id})
    assert fetched.json()["data"]["payment"]["payment_id"] == payment_id
    assert rpc_line(stack, "GetPayment", get_id)["grpc_code"] == "OK"
    assert any(line.get("operation") == "Get" for line in gateway_lines(stack, get_id))


def test_envoys_generated_request_id_is_the_one_the_service_logs(stack, http):
    response = http.post("/graphql", json={"query": CREATE})
    generated = response.headers["x-request-id"]
    assert uuid.UUID(generated)
    rpc_line(stack, "CreatePayment", generated)


def test_one_request_id_for_every_call_of_a_graphql_request(stack, http):
    payment_id = http.post("/v1/payments", json={"amount": 100, "currency": "USD"}).json()["payment"]["payment_id"]
    request_id = f"gql-two-{uuid.uuid4()}"
    query = "query Two($id: ID!) { a: payment(payment_id: $id) { payment_id } b: payments { next_page_token } }"
    http.post("/graphql", json={"query": query, "variables": {"id": payment_id}}, headers={"x-request-id": request_id})
    rpc_line(stack, "GetPayment", request_id)
    rpc_line(stack, "ListPayments", request_id)


def test_native_grpc_request_id_reaches_the_service(stack, grpcurl, e2e_key):
    request_id = f"grpc-{uuid.uuid4()}"
    result = grpcurl("payment.v1.PaymentService/ListPayments", key=e2e_key, data={},
                     headers=(f"x-request-id: {request_id}",))
    assert result.returncode == 0, result.stderr
    rpc_line(stack, "ListPayments", request_id)
