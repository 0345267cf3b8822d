"""ListPayments page tokens: an opaque, URL-safe encoding of the position after a page.

A token carries the last payment's (created_at, payment_id) and a tag of the
filters it was issued for, so a token reused with other filters is refused
rather than silently skipping or repeating payments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime

from ..domain import errors
from .ports import PageCursor, PaymentFilter
from .validation import check_payment_id

MAX_TOKEN_LENGTH = 512


def _filter_tag(filters: PaymentFilter) -> str:
    canonical = json.dumps({"customer": filters.customer_id, "status": filters.status.value if filters.status else ""},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def encode_page_token(cursor: PageCursor, filters: PaymentFilter) -> str:
    raw = json.dumps({"c": cursor.created_at.isoformat(), "p": cursor.payment_id, "f": _filter_tag(filters)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: PaymentFilter) -> PageCursor | None:
    """The cursor in ``token`` ('' is the first page); InvalidArgument("page_token") if it is not ours."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH:  # ours are ~120 characters
        raise errors.InvalidArgument("page_token", "is not a token returned by ListPayments")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        cursor = PageCursor(datetime.fromisoformat(data["c"]), check_payment_id(data["p"]))
        tag = data["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError,
            errors.InvalidArgument):  # RecursionError: JSON nested past the parser's stack
        raise errors.InvalidArgument("page_token", "is not a token returned by ListPayments") from None
    if tag != _filter_tag(filters):
        raise errors.InvalidArgument("page_token", "was issued for different filters; start again without it")
    return cursor
