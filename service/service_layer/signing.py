"""The outgoing webhook signature (docs/webhooks.md has the receiver's side).

    Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

During a secret rotation's overlap window a second ``v1=`` entry is signed
with the previous secret, so a receiver holding either secret verifies it
(the scheme Stripe uses for its Stripe-Signature header).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Payment-Signature"
EVENT_ID_HEADER = "Payment-Event-Id"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(body: bytes, timestamp: int, *secrets_: str) -> str:
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    parts += [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets_ if s]
    return ",".join(parts)


def verify(body: bytes, header: str, secret: str, now: int, tolerance_seconds: int = 300) -> bool:
    """The receiver's check (the same code is in docs/webhooks.md)."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or abs(now - int(timestamps[0])) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{timestamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in fields if key == "v1")
