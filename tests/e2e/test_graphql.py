"""GraphQL through the real Envoy (/graphql on the edge port) with a real HTTP
client: the gateway runs as its own process (`payment-graphql`) and reaches
the payment service only over gRPC."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e

PAYMENT = """payment_id merchant_id amount currency status capture_method payment_method customer_id
  description metadata { key value } processor processor_reference amount_captured amount_refunded
  refunds { refund_id amount reason create_time status } failure_code failure_message create_time update_time"""
CREATE = f"mutation Create($p: PaymentInput!) {{ create_payment(payload: $p) {{ {PAYMENT} }} }}"
GET = f"query Get($id: ID!) {{ payment(payment_id: $id) {{ {PAYMENT} }} }}"
PROCESS = f"""mutation Process($id: ID!, $action: PaymentAction!, $amount: Int64, $reason: String) {{
  process_payment(payment_id: $id, action: $action, amount: $amount, reason: $reason) {{ {PAYMENT} }} }}"""
LIST = """query List($status: PaymentStatus, $customer: String, $size: Int, $token: String) {
  payments(status: $status, customer_id: $customer, page_size: $size, page_token: $token) {
    payments { payment_id status customer_id } next_page_token } }"""
FAST_SECONDS = 2.0


@pytest.fixture
def gql(stack, e2e_key):
    with httpx.Client(base_url=stack.rest, timeout=15) as client:
        def run(query: str, variables: dict | None = None, *, key: str | None = e2e_key,
                headers: dict | None = None) -> httpx.Response:
            auth = {"Authorization": f"Bearer {key}"} if key else {}
            return client.post("/graphql", json={"query": query, "variables": variables},
                               headers={**auth, **(headers or {})})
        yield run


def data(response: httpx.Response) -> dict:
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def error(response: httpx.Response) -> dict:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


def test_create_get_list_and_process(gql):
    customer = f"cus_{uuid.uuid4().hex[:8]}"
    payload = {"amount": "2500", "currency": "eur", "customer_id": customer, "description": "e2e",
               "metadata": [{"key": "order", "value": "A-1"}]}
    created = data(gql(CREATE, {"p": payload}))["create_payment"]
    assert (created["status"], created["amount"], created["currency"]) == ("REQUIRES_CAPTURE", "2500", "EUR")
    assert created["metadata"] == [{"key": "order", "value": "A-1"}]
    assert data(gql(GET, {"id": created["payment_id"]}))["payment"] == created

    captured = data(gql(PROCESS, {"id": created["payment_id"], "action": "CAPTURE", "amount": "2000"}))
    assert captured["process_payment"]["amount_captured"] == "2000"
    refunded = data(gql(PROCESS, {"id": created["payment_id"], "action": "REFUND", "amount": 500,
                                  "reason": "late"}))["process_payment"]
    assert (refunded["status"], refunded["amount_refunded"]) == ("PARTIALLY_REFUNDED", "500")
    assert [(r["amount"], r["reason"]) for r in refunded["refunds"]] == [("500", "late")]

    other = data(gql(CREATE, {"p": {"amount": 100, "currency": "USD", "customer_id": customer}}))["create_payment"]
    canceled = data(gql(PROCESS, {"id": other["payment_id"], "action": "CANCEL"}))["process_payment"]
    assert canceled["status"] == "CANCELED"

    page = data(gql(LIST, {"customer": customer, "size": 1}))["payments"]
    assert [p["payment_id"] for p in page["payments"]] == [other["payment_id"]] and page["next_page_token"]
    rest = data(gql(LIST, {"customer": customer, "size": 1, "token": page["next_page_token"]}))["payments"]
    assert [p["payment_id"] for p in rest["payments"]] == [created["payment_id"]]
    filtered = data(gql(LIST, {"customer": customer, "status": "CANCELED"}))["payments"]["payments"]
    assert [p["payment_id"] for p in filtered] == [other["payment_id"]]


def test_idempotency_key_header_reaches_the_service(gql):
    headers = {"Idempotency-Key": f"gql-{uuid.uuid4()}"}
    first = data(gql(CREATE, {"p": {"amount": 700, "currency": "USD"}}, headers=headers))["create_payment"]
    again = data(gql(CREATE, {"p": {"amount": 700, "currency": "USD"}}, headers=headers))["create_payment"]
    assert again["payment_id"] == first["payment_id"]
    reused = error(gql(CREATE, {"p": {"amount": 701, "currency": "USD"}}, headers=headers))
    assert (reused["extensions"]["code"], reused["extensions"]["reason"]) == (
        "FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED")


def test_grpc_statuses_become_error_codes(gql):
    missing = gql(GET, {"id": "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"})
    assert missing.json()["data"] == {"payment": None}
    assert error(missing)["extensions"]["code"] == "NOT_FOUND"
    assert error(gql(GET, {"id": "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"}, key=None))["extensions"]["code"] == \
        "UNAUTHENTICATED"
    assert error(gql(GET, {"id": "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"}, key="sk_nobody"))["extensions"]["code"] == \
        "UNAUTHENTICATED"
    invalid = error(gql(CREATE, {"p": {"amount": "-5", "currency": "USD"}}))["extensions"]
    assert invalid["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in invalid["field_violations"]] == ["amount"]
    payment = data(gql(CREATE, {"p": {"amount": 100, "currency": "USD"}}))["create_payment"]
    refund = error(gql(PROCESS, {"id": payment["payment_id"], "action": "REFUND"}))["extensions"]
    assert (refund["code"], refund["reason"], refund["domain"]) == (
        "FAILED_PRECONDITION", "PAYMENT_NOT_REFUNDABLE", "payments.v1")


def test_another_merchants_payment_is_not_found(gql):
    payment = data(gql(CREATE, {"p": {"amount": 100, "currency": "USD"}}))["create_payment"]
    assert error(gql(GET, {"id": payment["payment_id"]}, key="sk_test_other"))["extensions"]["code"] == \
        "NOT_FOUND"


def refused_fast(send) -> httpx.Response:
    started = time.perf_counter()
    response = send()
    assert time.perf_counter() - started < FAST_SECONDS
    return response


def test_abusive_queries_are_refused_fast(gql, stack):
    deep = "amount"
    for level in range(17):
        deep = f"f{level} {{ {deep} }}"
    too_deep = refused_fast(lambda: gql(f"{{ payments {{ payments {{ refunds {{ {deep} }} }} }} }}"))
    assert too_deep.status_code == 400
    assert "QUERY_TOO_DEEP" in {e["extensions"]["reason"] for e in too_deep.json()["errors"]}

    aliases = "{ " + " ".join(f"a{i}: payments {{ next_page_token }}" for i in range(1000)) + " }"
    assert error(refused_fast(lambda: gql(aliases)))["extensions"]["reason"] == "TOO_MANY_TOKENS"
    some = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
    assert error(refused_fast(lambda: gql(some)))["extensions"]["reason"] == "TOO_MANY_ALIASES"

    huge = b'{"query": "{ __typename }", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    too_big = refused_fast(lambda: httpx.post(f"{stack.rest}/graphql", content=huge, timeout=15,
                                              headers={"Content-Type": "application/json"}))
    assert too_big.status_code == 413
    assert error(too_big)["extensions"]["reason"] == "BODY_TOO_LARGE"

    over_cap = error(gql("{ payments(page_size: 1000) { next_page_token } }"))
    assert over_cap["extensions"]["field_violations"][0]["field"] == "page_size"


def test_graphiql_in_the_local_stack(stack):
    page = httpx.get(f"{stack.rest}/graphql", headers={"Accept": "text/html"}, timeout=15)
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_gateway_health_and_metrics(stack, gql):
    gql("query MetricsE2E { __typename }")
    gateway = f"http://127.0.0.1:{stack.env['GRAPHQL_PORT']}"
    assert httpx.get(f"{gateway}/healthz", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{gateway}/readyz", timeout=5).status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{stack.env['GRAPHQL_METRICS_PORT']}/metrics", timeout=5).text
    assert 'graphql_requests_total{operation="MetricsE2E",outcome="ok"}' in metrics
    assert "graphql_request_duration_seconds_bucket" in metrics
