"""Request rules, checked before anything is written.

Each failure is an InvalidArgument naming the field and the rule. Values that
might be secrets or card data are never echoed back.
"""

from __future__ import annotations

import re

from ..domain import ids
from ..domain.errors import InvalidArgument
from ..domain.money import normalize_currency, validate_amount
from .commands import Action, CreatePayment, ListPayments, ProcessPayment
from .free_text import screen

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_CUSTOMER_ID_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 1000
MAX_REASON_LENGTH = 500
MAX_IDEMPOTENCY_KEY_LENGTH = 255
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_TOKEN = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_PROCESSOR = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_CARD_LIKE = re.compile(r"\d{12,19}")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


def check_payment_id(value: str, field: str = "payment_id") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if not ids.is_payment_id(value):
        raise InvalidArgument(field, "is not a payment id (expected pay_ followed by 26 characters)")
    return value


MAX_EVIDENCE_LENGTH = 20000


def check_dispute_id(value: str, field: str = "dispute_id") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if not ids.is_dispute_id(value):
        raise InvalidArgument(field, "is not a dispute id (expected dp_ followed by 26 characters)")
    return value


def check_evidence(evidence) -> None:
    """At least one text field, each at most MAX_EVIDENCE_LENGTH characters and without NUL."""
    given = evidence.fields()
    if not given:
        raise InvalidArgument("evidence", "is required: give at least one field, e.g. uncategorized_text")
    for name, value in given.items():
        _check_text(f"evidence.{name}", value, MAX_EVIDENCE_LENGTH, multiline=True)


def check_idempotency_key(value: str, field: str = "idempotency-key") -> str:
    if value and (len(value) > MAX_IDEMPOTENCY_KEY_LENGTH or not _PRINTABLE.match(value)):
        raise InvalidArgument(field, f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters")
    return value


def _check_text(field: str, value: str, limit: int, *, multiline: bool = False) -> None:
    """Free text: at most ``limit`` characters, no NUL (PostgreSQL cannot store it), no control
    characters and no card number (free_text.py)."""
    if len(value) > limit:
        raise InvalidArgument(field, f"must be at most {limit} characters (got {len(value)})")
    if "\x00" in value:
        raise InvalidArgument(field, "must not contain NUL characters")
    screen(field, value, multiline=multiline)


def _check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidArgument("metadata", f"must have at most {MAX_METADATA_KEYS} keys (got {len(metadata)})")
    for key, value in metadata.items():
        if not key:
            raise InvalidArgument("metadata", "keys must not be empty")
        if "\x00" in key:
            raise InvalidArgument("metadata", "keys must not contain NUL characters")
        screen("metadata", key)  # the key itself is not echoed: it may be what is refused
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidArgument(
                f"metadata[{key[:MAX_METADATA_KEY_LENGTH]}...]",
                f"keys must be at most {MAX_METADATA_KEY_LENGTH} characters (got {len(key)})",
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise InvalidArgument(
                f"metadata[{key}]", f"values must be at most {MAX_METADATA_VALUE_LENGTH} characters (got {len(value)})"
            )
        if "\x00" in value:
            raise InvalidArgument(f"metadata[{key}]", "values must not contain NUL characters")
        screen(f"metadata[{key}]", value)


def _check_payment_method(value: str) -> None:
    if not value:
        return
    if _CARD_LIKE.search(value.replace(" ", "").replace("-", "")):
        raise InvalidArgument(
            "payment_method", "looks like a card number; send the processor's payment method token instead"
        )
    if not _TOKEN.match(value):
        raise InvalidArgument("payment_method",
                              "must be a token of letters, digits and underscores (e.g. pm_card_visa)")


def validate_create(cmd: CreatePayment) -> CreatePayment:
    """Check every field; returns the command with the currency normalized."""
    validate_amount(cmd.amount)
    currency = normalize_currency(cmd.currency)
    _check_payment_method(cmd.payment_method)
    _check_text("customer_id", cmd.customer_id, MAX_CUSTOMER_ID_LENGTH)
    _check_text("description", cmd.description, MAX_DESCRIPTION_LENGTH, multiline=True)
    _check_metadata(cmd.metadata)
    if cmd.processor and not _PROCESSOR.match(cmd.processor):
        raise InvalidArgument("processor", "must be a processor name such as inhouse or stripe")
    check_idempotency_key(cmd.idempotency_key)
    return CreatePayment(**{**cmd.__dict__, "currency": currency})


def validate_process(cmd: ProcessPayment) -> None:
    check_payment_id(cmd.payment_id)
    _check_text("reason", cmd.reason, MAX_REASON_LENGTH)  # a card number is refused before anything else
    if cmd.action is Action.CANCEL and cmd.amount is not None:
        raise InvalidArgument("amount", "is not allowed with CANCEL")
    if cmd.amount is not None:
        validate_amount(cmd.amount)
    if cmd.reason and cmd.action is not Action.REFUND:
        raise InvalidArgument("reason", "is only allowed with REFUND")
    check_idempotency_key(cmd.idempotency_key)


def page_size(cmd: ListPayments) -> int:
    """The query's page size, once its filters are known to be valid (a customer_id filter with
    a NUL reached PostgreSQL and came back INTERNAL: found by schemathesis)."""
    _check_text("customer_id", cmd.customer_id, MAX_CUSTOMER_ID_LENGTH)
    if cmd.page_size == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= cmd.page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})")
    return cmd.page_size
