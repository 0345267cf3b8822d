"""Bad input refused at the layer where it enters, naming the field (issue 15, items 3 and 6):
request bytes that are not the method's message, page tokens, processor webhook events."""

from __future__ import annotations

import base64
import json
import time

import pytest

from service.adapters.processors import event_checks, stripe_events
from service.domain.errors import InvalidArgument
from service.entrypoints.grpc.decoding import Undecodable, bad_utf8_field, lenient
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.page_token import decode_page_token
from service.service_layer.ports import PaymentFilter

pytestmark = pytest.mark.unit


def string_field(number: int, value: bytes) -> bytes:
    return bytes([number << 3 | 2, len(value)]) + value


def test_a_request_with_a_string_that_is_not_utf8_is_undecodable_naming_the_field():
    decode = lenient(pb.GetPaymentRequest.FromString)
    result = decode(string_field(1, b"pay_\xff"))
    assert isinstance(result, Undecodable)
    assert (result.error.field, result.error.message) == ("payment_id", "payment_id: is not valid UTF-8")
    assert decode(string_field(1, b"pay_ok")).payment_id == "pay_ok"


def test_the_bad_field_is_found_at_the_top_and_inside_map_entries():
    good = pb.CreatePaymentRequest(amount=5, currency="USD", description="ok", metadata={"k": "vv"})
    data = good.SerializeToString()
    assert bad_utf8_field(data, pb.CreatePaymentRequest.DESCRIPTOR) is None
    assert bad_utf8_field(data.replace(b"ok", b"\xff\xfe"), pb.CreatePaymentRequest.DESCRIPTOR) == "description"
    assert bad_utf8_field(data.replace(b"vv", b"\xff\xfe"), pb.CreatePaymentRequest.DESCRIPTOR) == "metadata.value"


def test_garbage_bytes_are_undecodable_naming_the_request():
    result = lenient(pb.GetPaymentRequest.FromString)(b"\x0a\xff\xff\xff")
    assert isinstance(result, Undecodable) and result.error.field == "request"


def test_a_page_token_of_1100_nested_brackets_is_invalid_argument():
    token = base64.urlsafe_b64encode(b"[" * 1100 + b"]" * 1100).decode()
    with pytest.raises(InvalidArgument) as caught:
        decode_page_token(token, PaymentFilter())
    assert caught.value.field == "page_token"


def event(**changes) -> dict:
    base = {"id": "evt_1", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "amount": 1000, "amount_received": 1000}}}
    base.update(changes)
    return base


@pytest.mark.parametrize(("body", "field"), [
    (event(id="evt_" + "x" * 300), "id"),
    (event(id="evt_\x00"), "id"),
    (event(id=""), "id"),
    (event(type="x" * 101), "type"),
    (event(type="Payment Intent"), "type"),
    (event(data={"object": {"id": "pi_1", "amount_received": "1000"}}), "data.object.amount_received"),
    (event(data={"object": {"id": "pi_1", "amount_received": 1.5}}), "data.object.amount_received"),
    (event(data={"object": {"id": "pi_1", "amount": True}}), "data.object.amount"),
    (event(data={"object": {"id": "pi_1", "amount": 2**64}}), "data.object.amount"),
    (event(data={"object": {"id": "pi_" + "x" * 300}}), "data.object.id"),
    (event(data={"object": {"id": "pi_1", "description": "a\x00b"}}), "data.object.description"),
    (event(data={"object": {"id": "pi_1", "latest_charge": {"amount_refunded": "5"}}}),
     "data.object.latest_charge.amount_refunded"),
    (event(data={}), "data.object"),
])
def test_a_malformed_event_names_the_field(body, field):
    with pytest.raises(InvalidArgument) as caught:
        event_checks.parse(json.dumps(body).encode(), "a Stripe event")
    assert caught.value.field == field


@pytest.mark.parametrize("depth", [40, 5000])
def test_a_deeply_nested_event_is_refused(depth):
    body = '{"id": "evt_1", "type": "x", "data": {"object": ' + '{"a":' * depth + "{}" + "}" * depth + "}}"
    with pytest.raises(InvalidArgument) as caught:
        event_checks.parse(body.encode(), "a Stripe event")
    assert caught.value.field == "body" and "nested" in caught.value.message


def test_a_well_formed_event_passes():
    assert event_checks.parse(json.dumps(event()).encode(), "a Stripe event")["id"] == "evt_1"


def test_a_stripe_signature_dated_in_the_future_is_refused():
    now = time.time()
    stripe_events._not_from_the_future(f"t={int(now) + 300},v1=x", now=now)  # within the tolerance
    with pytest.raises(InvalidArgument) as caught:
        stripe_events._not_from_the_future(f"t={int(now) + 301},v1=x", now=now)
    assert caught.value.field == "stripe-signature"
