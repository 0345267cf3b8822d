"""What the sync and async clients share: settings, metadata, requests and the retry loop's decisions.

Neither client holds any logic of its own beyond "send, and on error ask `Attempts` whether
and how long to wait"; the requests they send are built here, once.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import random
import time
import uuid
from collections.abc import Mapping

import grpc
from google.protobuf import timestamp_pb2

from . import errors
from .gen.payment.v1 import events_pb2, payment_pb2
from .retry import RetryPolicy

VERSION = "0.1.0"
USER_AGENT = f"payment-client-python/{VERSION}"
IDEMPOTENCY_HEADER = "idempotency-key"


def new_idempotency_key() -> str:
    """A fresh key for one create or process call (reused by that call's retries)."""
    return f"pc_{uuid.uuid4().hex}"


def _pem(root_certificates: bytes | str | os.PathLike | None) -> bytes | None:
    if root_certificates is None or isinstance(root_certificates, bytes):
        return root_certificates
    return pathlib.Path(root_certificates).read_bytes()


@dataclasses.dataclass(frozen=True, repr=False)
class Settings:
    """One client's connection: where, as whom, how long a call may take, how it retries."""

    target: str
    api_key: str
    timeout: float | None = 10.0
    retry: RetryPolicy = RetryPolicy()
    tls: bool = False
    root_certificates: bytes | None = None

    @classmethod
    def build(cls, target: str, api_key: str, timeout: float | None, retry: RetryPolicy | None,
              tls: bool | None, root_certificates) -> Settings:
        if not api_key:
            raise ValueError("api_key is required (the merchant's sk_... key)")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds, or None")
        pem = _pem(root_certificates)
        return cls(target, api_key, timeout, retry or RetryPolicy(), bool(tls) or pem is not None, pem)

    def __repr__(self) -> str:  # never show the API key
        return f"Settings(target={self.target!r}, tls={self.tls}, timeout={self.timeout}, retry={self.retry})"

    def options(self) -> list[tuple[str, object]]:
        return [("grpc.primary_user_agent", USER_AGENT)]

    def credentials(self) -> grpc.ChannelCredentials | None:
        return grpc.ssl_channel_credentials(root_certificates=self.root_certificates) if self.tls else None

    def metadata(self, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
        pairs = [("authorization", f"Bearer {self.api_key}")]
        if idempotency_key:
            pairs.append((IDEMPOTENCY_HEADER, idempotency_key))
        return tuple(pairs)


class Attempts:
    """The retry loop of one call: the deadline left for the next attempt, and whether to retry."""

    def __init__(self, settings: Settings, rng: random.Random | None = None, clock=time.monotonic) -> None:
        self.policy = settings.retry
        self.rng = rng
        self.clock = clock
        self.deadline = None if settings.timeout is None else clock() + settings.timeout
        self.count = 0

    def start(self) -> float | None:
        """Count an attempt and return its timeout (what is left of the call's deadline)."""
        self.count += 1
        if self.deadline is None:
            return None
        return max(self.deadline - self.clock(), 0.0)

    def wait_before_retry(self, error: errors.PaymentServiceError) -> float | None:
        """Seconds to sleep before the next attempt, or None: raise `error`."""
        if not error.retryable or self.count >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff(self.count, self.rng)
        if self.deadline is not None and self.clock() + wait >= self.deadline:
            return None
        return wait


def enum_value(enum, value, field: str) -> int:
    """An enum given by name ("CAPTURED") or number; a clear ValueError for anything else."""
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return enum.Value(value.upper())
        except ValueError:
            raise ValueError(f"{field}: {value!r} is not one of {', '.join(enum.keys()[1:])}") from None
    return int(value)


def timestamp(value) -> timestamp_pb2.Timestamp | None:
    """A datetime (timezone-aware) or Timestamp as a Timestamp."""
    if value is None or isinstance(value, timestamp_pb2.Timestamp):
        return value
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def create_request(amount: int, currency: str, *, payment_method: str = "", capture_method=None,
                   customer_id: str = "", description: str = "", metadata: Mapping[str, str] | None = None,
                   processor: str = "") -> payment_pb2.CreatePaymentRequest:
    return payment_pb2.CreatePaymentRequest(
        amount=amount, currency=currency, payment_method=payment_method,
        capture_method=enum_value(payment_pb2.CaptureMethod, capture_method, "capture_method"),
        customer_id=customer_id, description=description, metadata=dict(metadata or {}), processor=processor)


def process_request(payment_id: str, action, amount: int | None, reason: str) -> payment_pb2.ProcessPaymentRequest:
    request = payment_pb2.ProcessPaymentRequest(
        payment_id=payment_id, action=enum_value(payment_pb2.PaymentAction, action, "action"), reason=reason)
    if amount is not None:
        request.amount = amount
    return request


def list_payments_request(page_size: int, page_token: str, status, customer_id: str) -> payment_pb2.ListPaymentsRequest:
    return payment_pb2.ListPaymentsRequest(
        page_size=page_size, page_token=page_token, customer_id=customer_id,
        status=enum_value(payment_pb2.PaymentStatus, status, "status"))


def list_events_request(page_size: int, page_token: str, payment_id: str, type: str,
                        created_after, created_before) -> events_pb2.ListEventsRequest:
    request = events_pb2.ListEventsRequest(page_size=page_size, page_token=page_token,
                                           payment_id=payment_id, type=type)
    if created_after is not None:
        request.created_after.CopyFrom(timestamp(created_after))
    if created_before is not None:
        request.created_before.CopyFrom(timestamp(created_before))
    return request
