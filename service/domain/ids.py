"""Identifiers: a prefix and a 26-character, time-ordered ULID body.

`pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K`: the first 10 characters encode the creation
time in milliseconds, the other 16 are random, Crockford base32 throughout.
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY = r"[0-9A-HJKMNP-TV-Z]{26}"


def _ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_payment_id() -> str:
    return "pay_" + _ulid()


def new_refund_id() -> str:
    return "re_" + _ulid()


def new_dispute_id() -> str:
    return "dp_" + _ulid()


DISPUTE_ID = re.compile(rf"^dp_{_BODY}$")


def is_dispute_id(value: str) -> bool:
    return bool(DISPUTE_ID.match(value))


PAYMENT_ID = re.compile(rf"^pay_{_BODY}$")


def is_payment_id(value: str) -> bool:
    return bool(PAYMENT_ID.match(value))


def new_event_id() -> str:
    return "evt_" + _ulid()


def new_endpoint_id() -> str:
    return "we_" + _ulid()


EVENT_ID = re.compile(rf"^evt_{_BODY}$")
ENDPOINT_ID = re.compile(rf"^we_{_BODY}$")
