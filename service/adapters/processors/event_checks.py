"""The shape every processor webhook event must have before anything reads it.

A processor retries a delivery until it gets a 2xx, and stops on a 4xx; an
event we cannot take must therefore be a 400 that names what is wrong, never a
500 (issue 15, item 3: an over-long id or type, a NUL in the id, deep nesting,
an amount as a string or as 1.5, which `int()` turned into 1). Checked right
after the signature, for Stripe's and the in-house processor's events alike:

| what                          | rule                                               | field named          |
| ----------------------------- | -------------------------------------------------- | -------------------- |
| the body                      | UTF-8 JSON, nested at most MAX_DEPTH levels        | body                 |
| `id`                          | 1-255 printable ASCII characters                   | id                   |
| `type`                        | 1-100 of `a-z 0-9 _ .`                             | type                 |
| `data.object`                 | an object                                          | data.object          |
| any string                    | no NUL (PostgreSQL cannot store one)               | its path             |
| amounts (AMOUNT_KEYS), `*.id`  | a JSON integer in int64 / at most 255 characters   | its path             |
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...domain.errors import InvalidArgument

MAX_DEPTH = 32
MAX_ID_LENGTH = 255
AMOUNT_KEYS = frozenset({"amount", "amount_received", "amount_capturable", "amount_captured", "amount_refunded"})
REFERENCE_KEYS = frozenset({"id", "payment_intent", "payment", "charge", "refund_id", "payment_id", "merchant_id"})
INT64_MAX = 2**63 - 1
_ID = re.compile(r"[\x21-\x7e]{1,255}")
_TYPE = re.compile(r"[a-z0-9_.]{1,100}")


def parse(payload: bytes, what: str) -> dict[str, Any]:
    """The event as a dict, or InvalidArgument naming the field (`what`: "a Stripe event")."""
    try:
        event = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidArgument("body", "is not UTF-8 JSON") from None
    except RecursionError:
        raise InvalidArgument("body", f"is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise InvalidArgument("body", "is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidArgument("body", f"is not {what} (a JSON object with id, type and data.object)")
    _check_id(event.get("id"))
    _check_type(event.get("type"))
    data = event.get("data")
    if not (isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise InvalidArgument("data.object", f"is required: {what} carries the object it is about")
    _check_values(event)
    return event


def _check_id(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("id", "is required (a string)")
    if not _ID.fullmatch(value):
        raise InvalidArgument("id", f"must be 1 to {MAX_ID_LENGTH} printable ASCII characters "
                                    f"(got {len(value)} characters)")


def _check_type(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("type", "is required (a string)")
    if not _TYPE.fullmatch(value):
        raise InvalidArgument("type", f"must be 1 to 100 of a-z, 0-9, '_' and '.' (got {len(value)} characters)")


def _check_values(event: dict[str, Any]) -> None:
    """Depth, NULs, amounts and references anywhere in the event (iterative: no recursion limit)."""
    stack: list[tuple[str, Any, int]] = [("", event, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidArgument("body", f"is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                _check_entry(child, str(key), item)
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            raise InvalidArgument(path, "must not contain NUL characters")


def _check_entry(path: str, key: str, value: object) -> None:
    if "\x00" in key:
        raise InvalidArgument(path.replace("\x00", "\\0"), "keys must not contain NUL characters")
    if key in AMOUNT_KEYS and value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not -INT64_MAX <= value <= INT64_MAX):
        raise InvalidArgument(path, f"must be an integer amount in minor units (got {json.dumps(value)[:40]})")
    if key in REFERENCE_KEYS and isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(path, f"must be at most {MAX_ID_LENGTH} characters (got {len(value)})")
