"""The edge validator's key rules, read from the very descriptor set Envoy transcodes with."""

from __future__ import annotations

import json
import pathlib

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
