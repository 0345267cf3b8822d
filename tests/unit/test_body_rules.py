"""The edge validator's key rules, read from the very descriptor set Envoy transcodes with."""

from __future__ import annotations

import json
import pathlib

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.entrypoints.edge.body_rules import BodyRules

pytestmark = pytest.mark.unit

DESCRIPTOR = pathlib.Path(__file__).resolve().parents[2] / "envoy" / "payment.pb"
CREATE, PROCESS = ("POST", "/v1/payments"), ("POST", "/v1/payments/pay_01ABC:process")


@pytest.fixture(scope="module")
def rules() -> BodyRules:
    return BodyRules.from_descriptor_set(DESCRIPTOR.read_bytes())


def check(rules, where, body):
    return rules.check(*where, body if isinstance(body, bytes) else json.dumps(body).encode())


def test_every_http_rule_in_the_descriptor_set_is_bound(rules):
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2

    expected = 0
    for file in descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes()).file:
        for service in file.service:
            for rpc in service.method:
                if rpc.options.HasExtension(annotations_pb2.http):
                    expected += 1 + len(rpc.options.Extensions[annotations_pb2.http].additional_bindings)
    assert expected and len(rules.bindings) == expected


@pytest.mark.parametrize(("where", "body", "field"), [
    (PROCESS, {"action": "REFUND", "amout": 5}, "amout"),
    (CREATE, {"amount": 100, "currency": "USD", "capture": "AUTOMATIC"}, "capture"),
    (("POST", "/api/payments/pay_01ABC/process"), {"action": "CANCEL", "Action": "CANCEL"}, "Action"),
])
def test_an_unknown_key_is_refused_naming_it(rules, where, body, field):
    violation = check(rules, where, body)
    assert violation is not None and violation.reason == "UNKNOWN_FIELD"
    assert violation.field == field and field in violation.message


@pytest.mark.parametrize("value", [{}, {"x": "y"}])
def test_an_object_as_a_string_map_value_is_refused_naming_its_key(rules, value):
    # Envoy's transcoder makes corrupt protobuf of it (found by schemathesis: a 500 from the service)
    violation = check(rules, CREATE, {"amount": 100, "currency": "USD", "metadata": {"order": value}})
    assert violation is not None and violation.reason == "INVALID_TYPE"
    assert violation.field == "metadata['order']" and "not an object" in violation.message


@pytest.mark.parametrize("body", [
    {"amount": 100, "currency": "USD", "capture_method": "AUTOMATIC", "metadata": {"any key": "ok"}},
    {"amount": "100", "currency": "USD", "captureMethod": "AUTOMATIC", "customerId": "cus_1"},
    {},
])
def test_known_keys_by_proto_or_json_name_pass(rules, body):
    assert check(rules, CREATE, body) is None


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"amount": 5, "amount": 500, "currency": "USD"}', "amount"),
    (b'{"customer_id": "a", "customerId": "b"}', "customerId"),
    (b'{"metadata": {"order": "1", "order": "2"}}', "metadata['order']"),
])
def test_a_key_given_twice_is_refused(rules, raw, field):
    violation = check(rules, CREATE, raw)
    assert violation is not None and violation.reason == "DUPLICATE_FIELD" and violation.field == field


@pytest.mark.parametrize("raw", [b"{", b'{"amount": \xff}', b"[" * 5000 + b"]" * 5000, b'{"a": NaN'])
def test_malformed_or_absurdly_deep_json_is_a_400_not_a_crash(rules, raw):
    violation = check(rules, CREATE, raw)
    assert violation is not None and violation.reason == "MALFORMED_JSON" and violation.field == "body"


def test_raw_webhook_bodies_and_reads_are_not_parsed(rules):
    assert check(rules, ("POST", "/webhooks/stripe"), b'{"id": 1, "id": 2, "whatever": {}}') is None
    assert check(rules, ("GET", "/v1/payments?page_size=1"), b"") is None


def test_a_body_at_a_path_no_rpc_binds_is_refused(rules):
    violation = check(rules, ("POST", "/v1/payments/pay_1:explode"), {"a": 1})
    assert violation is not None and violation.reason == "NO_BINDING"


def test_echoed_keys_are_shortened(rules):
    violation = check(rules, CREATE, {"k" * 10_000: 1})
    assert violation is not None and len(violation.message) < 300


KNOWN = {"amount": 100, "currency": "USD", "description": "d", "customer_id": "c", "metadata": {"a": "b"}}
keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in {
    "amount", "currency", "description", "customer_id", "customerId", "metadata", "payment_method",
    "paymentMethod", "capture_method", "captureMethod", "processor", "request_id", "requestId"})


@settings(max_examples=300, deadline=None)
@given(extra=keys, position=st.integers(min_value=0, max_value=len(KNOWN)))
def test_any_extra_key_anywhere_in_a_create_body_is_found(rules, extra, position):
    items = list(KNOWN.items())
    items.insert(position, (extra, 1))
    raw = "{" + ",".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items) + "}"
    violation = check(rules, CREATE, raw.encode())
    assert violation is not None and violation.reason == "UNKNOWN_FIELD"


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=20))
def test_arbitrary_json_never_raises(rules, document):
    for where in (CREATE, PROCESS):
        check(rules, where, document)


def test_a_singular_message_field_is_walked_too():
    """UpdateWebhookEndpoint's body has a singular message field (`endpoint`) and a FieldMask."""
    rules = BodyRules.from_descriptor_set(DESCRIPTOR.read_bytes())
    path = "/v1/webhook_endpoints/we_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"
    assert rules.check("PATCH", path, b'{"endpoint": {"enabled": false}, "update_mask": "enabled"}') is None
    refused = rules.check("PATCH", path, b'{"endpoint": {"enabld": false}}')
    assert refused is not None and refused.field == "endpoint.enabld"


async def test_the_validator_answers_envoy_with_a_json_status_naming_the_field():
    """The ext_authz HTTP service itself, on a real in-process server (port 0), asked as Envoy asks:
    the original method, /check + the original path, the raw body."""
    from service.entrypoints.edge.validator import create_server

    server, port = await create_server("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            path = "/check/v1/payments/pay_01ABC:process"
            denied = await client.post(path, content=b'{"action": "REFUND", "amout": 5}')
            allowed = await client.post(path, content=b'{"action": "REFUND", "amount": 5}')
    finally:
        await server.stop(1)
    assert allowed.status_code == 200 and allowed.content == b""
    assert denied.status_code == 400
    assert {name for name in denied.headers if name != "content-length"} == {"content-type"}
    assert denied.headers["content-type"] == "application/json"
    body = json.loads(denied.content)
    assert body["code"] == 3 and body["message"].startswith("amout: ")
    assert body["details"][0]["field_violations"][0] == {
        "field": "amout", "reason": "UNKNOWN_FIELD",
        "description": "unknown field: payment.v1.ProcessPaymentRequest has no field 'amout'"}


def nested_rules() -> BodyRules:
    """A synthetic API with every shape the walk must follow: nested, repeated and map-valued
    messages, a free-form Struct, and a rule whose body is one field."""
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2, struct_pb2

    F = descriptor_pb2.FieldDescriptorProto
    struct_file = descriptor_pb2.FileDescriptorProto()
    struct_pb2.DESCRIPTOR.CopyToProto(struct_file)
    file = descriptor_pb2.FileDescriptorProto(name="t/v1/t.proto", package="t.v1", syntax="proto3",
                                              dependency=["google/protobuf/struct.proto"])
    item = file.message_type.add(name="Item")
    item.field.add(name="sku", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="sku")
    item.field.add(name="unit_price", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL, json_name="unitPrice")
    request = file.message_type.add(name="Request")
    entry = request.nested_type.add(name="ByKeyEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="key")
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, type_name=".t.v1.Item", label=F.LABEL_OPTIONAL,
                    json_name="value")
    for number, (name, kind, type_name, label) in enumerate([
            ("id", F.TYPE_STRING, "", F.LABEL_OPTIONAL),
            ("item", F.TYPE_MESSAGE, ".t.v1.Item", F.LABEL_OPTIONAL),
            ("items", F.TYPE_MESSAGE, ".t.v1.Item", F.LABEL_REPEATED),
            ("by_key", F.TYPE_MESSAGE, ".t.v1.Request.ByKeyEntry", F.LABEL_REPEATED),
            ("extra", F.TYPE_MESSAGE, ".google.protobuf.Struct", F.LABEL_OPTIONAL)], start=1):
        field = request.field.add(name=name, number=number, type=kind, label=label,
                                  json_name={"by_key": "byKey"}.get(name, name))
        if type_name:
            field.type_name = type_name
    service = file.service.add(name="Things")
    do = service.method.add(name="Do", input_type=".t.v1.Request", output_type=".t.v1.Request")
    do.options.Extensions[annotations_pb2.http].post = "/v1/things/{id}:do"
    do.options.Extensions[annotations_pb2.http].body = "*"
    put = service.method.add(name="Put", input_type=".t.v1.Request", output_type=".t.v1.Request")
    put.options.Extensions[annotations_pb2.http].patch = "/v1/things/{id=things/*}"
    put.options.Extensions[annotations_pb2.http].body = "item"
    return BodyRules.from_descriptor_set(
        descriptor_pb2.FileDescriptorSet(file=[struct_file, file]).SerializeToString())


DO, PUT = ("POST", "/v1/things/t1:do"), ("PATCH", "/v1/things/things/t1")


@pytest.mark.parametrize(("where", "body", "field", "reason"), [
    (DO, {"item": {"sku": "a", "unitPrise": 5}}, "item.unitPrise", "UNKNOWN_FIELD"),
    (DO, {"items": [{"sku": "a"}, {"sku": "b", "qty": 2}]}, "items[1].qty", "UNKNOWN_FIELD"),
    (DO, {"by_key": {"x": {"sku": "a"}, "y": {"skew": "b"}}}, "by_key['y'].skew", "UNKNOWN_FIELD"),
    (DO, b'{"byKey": {"x": {"sku": "a", "sku": "b"}}}', "by_key['x'].sku", "DUPLICATE_FIELD"),
    (DO, b'{"extra": {"free": {"form": 1, "form": 2}}}', "extra.free.form", "DUPLICATE_FIELD"),
    (PUT, {"sku": "a", "id": "t1"}, "id", "UNKNOWN_FIELD"),  # the body is `item`, not the request
])
def test_the_walk_follows_nested_repeated_and_map_valued_messages(where, body, field, reason):
    violation = check(nested_rules(), where, body)
    assert violation is not None and (violation.field, violation.reason) == (field, reason)


def test_free_form_and_well_formed_nested_bodies_pass():
    rules = nested_rules()
    assert check(rules, DO, {"id": "t1", "item": {"sku": "a", "unitPrice": "5"}, "items": [{"sku": "b"}],
                             "byKey": {"x": {"unit_price": 1}}, "extra": {"anything": {"goes": [1, {"a": 2}]}}}) is None
    assert check(rules, PUT, {"sku": "a", "unit_price": 3}) is None
