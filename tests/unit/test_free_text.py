"""Card numbers and control characters in free text are refused naming the field, never echoed
(issue 15, item 6); the log formatter redacts what should never have reached it."""

from __future__ import annotations

import json
import logging

import pytest

from common.logs import JsonFormatter, redact
from service.domain.errors import InvalidArgument
from service.domain.processor import DisputeEvidence
from service.service_layer.commands import Action, CreatePayment, ProcessPayment
from service.service_layer.free_text import contains_pan, luhn_valid, screen
from service.service_layer.validation import check_evidence, validate_create, validate_process
from service.service_layer.webhook_endpoints import check_description

pytestmark = pytest.mark.unit

PAYMENT_ID = "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"
PANS = ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "378282246310005",
        "6011111111111117", "4222222222222", "6200000000000005", "5555 5555 5555 4444"]


@pytest.mark.parametrize("pan", PANS)
def test_a_luhn_valid_card_number_is_found_anywhere_in_text(pan):
    assert luhn_valid(pan.replace(" ", "").replace("-", ""))
    for text in (pan, f"order for {pan}, thanks", f"card:{pan}", f"{pan} 12/25", f"exp 12/25 {pan}"):
        assert contains_pan(text), text


@pytest.mark.parametrize("text", ["4242424242424241", "order 1234567890123", "12345678901234567890123",
                                  "2026-11-29 04:21:30", "cd7deb94-d785-4480-9028-60cf0d246e47",
                                  "phone +1 555 0100", "ref 123456"])
def test_numbers_that_are_not_card_numbers_pass(text):
    assert not contains_pan(text)


@pytest.mark.parametrize("text", ["\x1b[31mred\x1b[0m", "a\x07b", "a\x9bcsi", "del\x7f", "line\nbreak", "tab\t"])
def test_control_characters_and_ansi_escapes_are_refused(text):
    with pytest.raises(InvalidArgument) as caught:
        screen("customer_id", text)
    assert caught.value.field == "customer_id"
    assert text not in caught.value.message


def test_multiline_fields_keep_their_line_breaks_but_not_escapes():
    screen("description", "line one\nline two\r\n\ttabbed", multiline=True)
    with pytest.raises(InvalidArgument):
        screen("description", "\x1b]0;title\x07", multiline=True)


def create(**fields) -> CreatePayment:
    return CreatePayment(**{"merchant_id": "acct_1", "amount": 1000, "currency": "usd", **fields})


def field_of(call) -> str:
    with pytest.raises(InvalidArgument) as raised:
        call()
    assert "4242" not in raised.value.message and "\x1b" not in raised.value.message
    return raised.value.field


@pytest.mark.parametrize(("call", "field"), [
    (lambda: validate_create(create(description="card 4242 4242 4242 4242")), "description"),
    (lambda: validate_create(create(customer_id="cus_4242424242424242")), "customer_id"),
    (lambda: validate_create(create(customer_id="4242-4242-4242-4242")), "customer_id"),
    (lambda: validate_create(create(metadata={"note": "4242424242424242"})), "metadata[note]"),
    (lambda: validate_create(create(metadata={"4242424242424242": "x"})), "metadata"),
    (lambda: validate_create(create(description="\x1b[2J")), "description"),
    (lambda: validate_create(create(metadata={"k": "a\x1bb"})), "metadata[k]"),
    (lambda: validate_process(ProcessPayment("acct_1", PAYMENT_ID, Action.REFUND, reason="4242424242424242")),
     "reason"),
    (lambda: validate_process(ProcessPayment("acct_1", PAYMENT_ID, Action.CANCEL, reason="4242424242424242")),
     "reason"),
    (lambda: validate_process(ProcessPayment("acct_1", PAYMENT_ID, Action.REFUND, reason="a\rb")), "reason"),
    (lambda: check_evidence(DisputeEvidence(uncategorized_text="paid with 4242 4242 4242 4242")),
     "evidence.uncategorized_text"),
    (lambda: check_description("card 4242424242424242"), "description"),
])
def test_free_text_with_a_card_number_or_escape_is_refused_naming_the_field(call, field):
    assert field_of(call) == field


def test_ordinary_free_text_passes():
    validate_create(create(description="Order #12345, 2 items\nthanks", customer_id="cus_123",
                           metadata={"order": "A-1001"}))


def test_the_log_formatter_redacts_sql_parameters_key_details_and_card_numbers():
    try:
        raise RuntimeError("(asyncpg.exceptions.UniqueViolationError) duplicate key\n"
                           "DETAIL:  Key (reference)=(sk_test_secret) already exists.\n"
                           "[SQL: INSERT INTO t VALUES ($1)]\n[parameters: ('4242424242424242',)]")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed for 4111 1111 1111 1111", (), None)
        record.exc_info = __import__("sys").exc_info()
    line = JsonFormatter().format(record)
    assert "4242424242424242" not in line and "4111 1111" not in line and "sk_test_secret" not in line
    entry = json.loads(line)
    assert "[parameters redacted]" in entry["exception"]
    assert entry["message"] == "failed for [redacted card number]"
    assert redact("request cd7deb94-d785-4480-9028-60cf0d246e47") == "request cd7deb94-d785-4480-9028-60cf0d246e47"
