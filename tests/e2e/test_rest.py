"""REST through the real Envoy (gRPC-JSON transcoder) with a real HTTP client."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e

PREFIXES = ["/v1", "/api"]


@pytest.fixture
def http(stack, e2e_key):
    with httpx.Client(base_url=stack.rest, headers={"Authorization": f"Bearer {e2e_key}"}, timeout=15) as client:
        yield client


def process_path(prefix: str, payment_id: str) -> str:
    return f"/v1/payments/{payment_id}:process" if prefix == "/v1" else f"/api/payments/{payment_id}/process"


def test_health_needs_no_key(stack):
    reply = httpx.get(f"{stack.rest}/v1/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "SERVING"
    assert reply.json()["components"]["database"] == "ok"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_payment_lifecycle_over_rest(http, prefix):
    created = http.post(f"{prefix}/payments", json={"amount": 2500, "currency": "jpy", "customer_id": "cus_9",
                                                   "metadata": {"order": "A-1"}})
    assert created.status_code == 200, created.text
    payment = created.json()["payment"]
    # proto field names, int64 as strings, enums as names
    assert payment["amount"] == "2500" and payment["currency"] == "JPY"
    assert payment["status"] == "REQUIRES_CAPTURE" and payment["capture_method"] == "MANUAL"
    assert payment["metadata"] == {"order": "A-1"}
    fetched = http.get(f"{prefix}/payments/{payment['payment_id']}").json()["payment"]
    assert fetched == payment
    captured = http.post(process_path(prefix, payment["payment_id"]), json={"action": "CAPTURE", "amount": "2000"})
    assert captured.status_code == 200, captured.text
    assert captured.json()["payment"]["amount_captured"] == "2000"
    refunded = http.post(process_path(prefix, payment["payment_id"]),
                         json={"action": "REFUND", "amount": 500, "reason": "late"}).json()["payment"]
    assert refunded["status"] == "PARTIALLY_REFUNDED" and refunded["amount_refunded"] == "500"
    assert refunded["refunds"][0]["status"] == "REFUND_SUCCEEDED"
    listed = http.get(f"{prefix}/payments", params={"status": "PARTIALLY_REFUNDED", "customer_id": "cus_9"}).json()
    assert [p["payment_id"] for p in listed["payments"]] == [payment["payment_id"]]


def test_listing_pages_over_rest(http):
    ids = [http.post("/v1/payments", json={"amount": 100, "currency": "USD"}).json()["payment"]["payment_id"]
           for _ in range(5)]
    seen, token = [], ""
    while True:
        page = http.get("/v1/payments", params={"page_size": 2, **({"page_token": token} if token else {})}).json()
        seen += [p["payment_id"] for p in page["payments"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == list(reversed(ids))


def test_idempotency_key_header(http):
    headers = {"Idempotency-Key": f"rest-{uuid.uuid4()}"}
    first = http.post("/v1/payments", json={"amount": 100, "currency": "USD"}, headers=headers)
    again = http.post("/v1/payments", json={"amount": 100, "currency": "USD"}, headers=headers)
    assert again.json() == first.json()
    reused = http.post("/v1/payments", json={"amount": 101, "currency": "USD"}, headers=headers)
    assert reused.status_code == 400
    assert reused.json()["details"][-1]["reason"] == "IDEMPOTENCY_KEY_REUSED"


def assert_status_body(reply: httpx.Response, http_status: int, grpc_code: int, mentions: str) -> None:
    assert reply.status_code == http_status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["code"] == grpc_code
    assert mentions in body["message"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_invalid_currency_is_400_with_a_json_status(http, prefix):
    reply = http.post(f"{prefix}/payments", json={"amount": 100, "currency": "ABC"})
    assert_status_body(reply, 400, 3, "currency")
    violation = reply.json()["details"][0]
    assert violation["@type"].endswith("google.rpc.BadRequest")
    assert violation["field_violations"][0]["field"] == "currency"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_unknown_id_is_404(http, prefix):
    reply = http.get(f"{prefix}/payments/pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K")
    assert_status_body(reply, 404, 5, "not found")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_no_key_is_401(stack, prefix):
    reply = httpx.get(f"{stack.rest}{prefix}/payments")
    assert_status_body(reply, 401, 16, "authorization")
    wrong = httpx.get(f"{stack.rest}{prefix}/payments", headers={"Authorization": "Bearer sk_live_guess"})
    assert_status_body(wrong, 401, 16, "invalid API key")
    assert "sk_live_guess" not in wrong.text


def test_another_merchants_payment_is_404(stack, http):
    payment_id = http.post("/v1/payments", json={"amount": 100, "currency": "USD"}).json()["payment"]["payment_id"]
    other = httpx.get(f"{stack.rest}/v1/payments/{payment_id}", headers={"Authorization": "Bearer sk_test_other"})
    assert other.status_code == 404


def test_illegal_step_is_400_failed_precondition_with_reason(http):
    payment_id = http.post("/v1/payments", json={"amount": 100, "currency": "USD"}).json()["payment"]["payment_id"]
    reply = http.post(f"/v1/payments/{payment_id}:process", json={"action": "REFUND"})
    assert_status_body(reply, 400, 9, "only captured payments")
    assert reply.json()["details"][0]["reason"] == "PAYMENT_NOT_REFUNDABLE"


BAD_BODIES = [
    ('{"amount": 0, "currency": "USD"}', "amount"),
    ('{"amount": -3, "currency": "USD"}', "amount"),
    ('{"amount": "99999999999999999999", "currency": "USD"}', "amount"),
    ('{"amount": 100000000000, "currency": "USD"}', "amount"),
    ('{"amount": "abc", "currency": "USD"}', "amount"),
    ('{"amount": 1.5, "currency": "USD"}', "amount"),
    ('{"amount": 100, "currency": 7}', "currency"),
    ('{"amount": 100, "currency": "USD", "metadata": {"k": 1}}', "metadata"),
    ('{"amount": 100, "currency": "USD", "metadata": [1]}', "metadata"),
    ('{"amount": 100, "currency": "USD", "capture_method": "SOMETIMES"}', "capture_method"),
    ('{"amount": 100, "currency": "USD", "payment_method": "4242 4242 4242 4242"}', "payment_method"),
    ('{"amount": 100, "currency": "USD", "description": "a\\u0000b"}', "description"),
    ('{"amount": 100, "currency": ', ""),
    ('not json', ""),
    ('[1, 2]', ""),
    ('{"amount": 100, "currency": "USD", "metadata": {' + ",".join(f'"k{i}": "v"' for i in range(51)) + '}}',
     "metadata"),
    ('{"amount": 100, "currency": "USD", "metadata": {"' + "k" * 41 + '": "v"}}', "metadata"),
    ('{"amount": 100, "currency": "USD", "metadata": {"k": "' + "v" * 501 + '"}}', "metadata[k]"),
]


@pytest.mark.parametrize("body, field", BAD_BODIES)
def test_bad_input_is_400_naming_the_field_and_never_500(stack, http, body, field):
    before = http.get("/v1/payments", params={"page_size": 100}).json()["payments"]
    reply = http.post("/v1/payments", content=body, headers={"Content-Type": "application/json"})
    assert_status_body(reply, 400, 3, field)
    after = http.get("/v1/payments", params={"page_size": 100}).json()["payments"]
    assert after == before, "a rejected request wrote something"


@pytest.mark.parametrize("path, params, http_status", [
    ("/v1/payments", {"page_size": "1000"}, 400),
    ("/v1/payments", {"page_size": "x"}, 400),
    ("/v1/payments", {"page_token": "%%%"}, 400),
    ("/v1/payments", {"status": "NOPE"}, 400),
    ("/v1/payments", {"unknown": "1"}, 400),
    ("/v1/payments/not-an-id", {}, 400),
    ("/v1/nowhere", {}, 404),
])
def test_bad_queries_are_client_errors_never_500(http, path, params, http_status):
    reply = http.get(path, params=params)
    assert reply.status_code == http_status, reply.text
    assert reply.json()["code"] in (3, 5)


def test_bad_actions_are_400(http):
    payment_id = http.post("/v1/payments", json={"amount": 100, "currency": "USD"}).json()["payment"]["payment_id"]
    cases = [({}, "action"), ({"action": "EXPLODE"}, "action"), ({"action": "CANCEL", "amount": 5}, "amount"),
             ({"action": "CAPTURE", "amount": 0}, "amount")]
    for body, field in cases:
        reply = http.post(f"/v1/payments/{payment_id}:process", json=body)
        assert_status_body(reply, 400, 3, field)


def test_a_nul_in_the_customer_id_filter_is_a_400_naming_it(http):
    # found by schemathesis: it reached PostgreSQL and came back 500 INTERNAL
    reply = http.get("/v1/payments", params={"customer_id": "cus\x00x"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["message"].startswith("customer_id: ")
