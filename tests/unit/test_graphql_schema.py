"""The GraphQL schema mirrors the proto, and every root field works end to end
against the real payment gRPC server (in-process, in-memory fakes)."""

from __future__ import annotations

import pytest
from graphql import GraphQLEnumType

from gateway.config import GraphQLSettings
from gateway.limits import MAX_PAGE_SIZE
from gateway.schema import build_schema
from service.gen.payment.v1 import events_pb2 as epb
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer import validation
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import CREATE, PAYMENT_FIELDS, create_payment, only_error, post

pytestmark = pytest.mark.unit

gateway, payment_api = harness.gateway, harness.payment_api  # shared fixtures

SCHEMA = build_schema(GraphQLSettings())._schema
GET = f"query Get($id: ID!) {{ payment(payment_id: $id) {{ {PAYMENT_FIELDS} }} }}"
PROCESS = f"""
mutation Process($id: ID!, $action: PaymentAction!, $amount: Int64, $reason: String) {{
  process_payment(payment_id: $id, action: $action, amount: $amount, reason: $reason) {{ {PAYMENT_FIELDS} }}
}}"""


def field_names(type_name: str) -> list[str]:
    return list(SCHEMA.get_type(type_name).fields)


def test_root_fields_and_arguments_keep_the_api_names():
    assert field_names("Query") == ["payment", "payments", "event", "events"]
    assert list(SCHEMA.query_type.fields["event"].args) == ["event_id"]
    assert list(SCHEMA.query_type.fields["events"].args) == [
        "page_size", "page_token", "payment_id", "type", "created_after", "created_before"]
    assert field_names("Mutation") == ["create_payment", "process_payment"]
    assert list(SCHEMA.query_type.fields["payment"].args) == ["payment_id"]
    assert list(SCHEMA.query_type.fields["payments"].args) == ["page_size", "page_token", "status", "customer_id"]
    assert list(SCHEMA.mutation_type.fields["create_payment"].args) == ["payload"]
    assert list(SCHEMA.mutation_type.fields["process_payment"].args) == [
        "payment_id", "action", "amount", "reason", "request_id"]
    assert field_names("PaymentPage") == ["payments", "next_page_token"]


@pytest.mark.parametrize("graphql_type, message", [
    ("Payment", pb.Payment), ("Refund", pb.Refund), ("Dispute", pb.Dispute),
    ("PaymentInput", pb.CreatePaymentRequest), ("Event", epb.Event)])
def test_types_mirror_the_proto_messages_field_for_field(graphql_type, message):
    assert field_names(graphql_type) == [field.name for field in message.DESCRIPTOR.fields]


@pytest.mark.parametrize("enum", [pb.PaymentStatus, pb.CaptureMethod, pb.PaymentAction, pb.RefundStatus,
                                  pb.DisputeStatus])
def test_enums_have_the_proto_value_names(enum):
    graphql_enum = SCHEMA.get_type(enum.DESCRIPTOR.name)
    assert isinstance(graphql_enum, GraphQLEnumType)
    assert list(graphql_enum.values) == [name for name in enum.keys() if not name.endswith("_UNSPECIFIED")]


def test_amounts_are_int64_and_times_are_timestamps():
    payment = SCHEMA.get_type("Payment").fields
    for name in ("amount", "amount_captured", "amount_refunded"):
        assert str(payment[name].type) == "Int64!"
    assert str(payment["create_time"].type) == "Timestamp!"


def test_page_size_cap_is_the_apis():
    assert MAX_PAGE_SIZE == validation.MAX_PAGE_SIZE


async def test_create_then_get_returns_the_same_payment(gateway):
    metadata = [{"key": "order", "value": "42"}, {"key": "channel", "value": "web"}]
    created = await create_payment(gateway, amount="99999999999", currency="jpy", customer_id="cus_1",
                                   description="big", metadata=metadata, capture_method="AUTOMATIC",
                                   payment_method="pm_card_visa")
    assert created["amount"] == "99999999999" and created["amount_captured"] == "99999999999"
    assert created["currency"] == "JPY" and created["status"] == "CAPTURED"
    assert created["capture_method"] == "AUTOMATIC"
    assert created["metadata"] == sorted(metadata, key=lambda entry: entry["key"])
    assert created["create_time"].endswith("Z")
    fetched = (await post(gateway, GET, {"id": created["payment_id"]})).json()["data"]["payment"]
    assert fetched == created


async def test_integer_literals_and_strings_are_both_accepted_for_int64(gateway):
    query = ('mutation { create_payment(payload: {amount: 2147483648, currency: "EUR"}) '
             '{ amount } }')
    body = (await post(gateway, query)).json()
    assert body["data"]["create_payment"]["amount"] == "2147483648"


@pytest.mark.parametrize("amount", ["12a", "9223372036854775808", True, 1.5])
async def test_bad_int64_is_refused_before_any_call(gateway, payment_api, amount):
    calls = len(payment_api.recorder.calls)
    response = await post(gateway, CREATE, {"payload": {"amount": amount, "currency": "USD"}})
    error = only_error(response)
    assert response.status_code == 400
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert "Int64" in error["message"]
    assert len(payment_api.recorder.calls) == calls


async def test_capture_refund_and_cancel(gateway):
    payment = await create_payment(gateway, amount="5000")
    captured = (await post(gateway, PROCESS, {"id": payment["payment_id"], "action": "CAPTURE"})).json()
    assert captured["data"]["process_payment"]["status"] == "CAPTURED"
    refund = {"id": payment["payment_id"], "action": "REFUND", "amount": 1500, "reason": "damaged"}
    refunded = (await post(gateway, PROCESS, refund)).json()["data"]["process_payment"]
    assert refunded["status"] == "PARTIALLY_REFUNDED" and refunded["amount_refunded"] == "1500"
    assert [(r["amount"], r["reason"], r["status"]) for r in refunded["refunds"]] == [
        ("1500", "damaged", "REFUND_SUCCEEDED")]
    assert refunded["refunds"][0]["refund_id"].startswith("re_")
    other = await create_payment(gateway)
    canceled = (await post(gateway, PROCESS, {"id": other["payment_id"], "action": "CANCEL"})).json()
    assert canceled["data"]["process_payment"]["status"] == "CANCELED"


async def test_list_filters_and_pages(gateway):
    customer = "cus_pages"
    ids = [(await create_payment(gateway, customer_id=customer))["payment_id"] for _ in range(3)]
    query = """query List($token: String, $customer: String) {
      payments(page_size: 2, page_token: $token, customer_id: $customer, status: REQUIRES_CAPTURE) {
        payments { payment_id status customer_id } next_page_token } }"""
    first = (await post(gateway, query, {"customer": customer})).json()["data"]["payments"]
    assert first["next_page_token"]
    second = (await post(gateway, query, {"customer": customer, "token": first["next_page_token"]})).json()
    page_two = second["data"]["payments"]
    assert page_two["next_page_token"] == ""
    listed = [p["payment_id"] for p in first["payments"] + page_two["payments"]]
    assert listed == list(reversed(ids))


async def test_duplicate_metadata_keys_are_refused_before_any_call(gateway, payment_api):
    calls = len(payment_api.recorder.calls)
    metadata = [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]
    error = only_error(await post(gateway, CREATE, {"payload": {"amount": "1", "currency": "USD",
                                                                "metadata": metadata}}))
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["field_violations"][0]["field"] == "metadata"
    assert len(payment_api.recorder.calls) == calls
