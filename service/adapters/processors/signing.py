"""Webhook signatures in the scheme Stripe uses: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

The in-house processor signs the events it sends with ``sign`` and the service
checks them with ``verify``: over the exact raw bytes, in constant time, with
a tolerance on the timestamp so a captured delivery cannot be replayed later.
Several ``v1`` values may be present (a secret being rotated); one match is
enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed now (or at ``timestamp``)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={signature(secret, body, stamp)}"


def verify(header: str, body: bytes, secret: str, *, tolerance: int = TOLERANCE_SECONDS,
           now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not candidates:
        return False
    stamp = int(stamps[0])
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = signature(secret, body, stamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
