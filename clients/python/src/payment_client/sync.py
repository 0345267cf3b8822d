"""The blocking client: one channel, one API key, one deadline per call (retries included).

    with PaymentClient("localhost:8080", api_key="sk_test_local") as client:
        payment = client.create_payment(1200, "EUR")
        client.capture(payment.payment_id)

Every call is retried on UNAVAILABLE and ABORTED (`retry.RetryPolicy`); a create or process
call gets one idempotency key (yours, or a fresh one) that all its attempts send, so a
retry after a lost answer returns the first result instead of paying twice. Errors are
raised as `errors.PaymentServiceError` subclasses. Results are the API's protobuf messages
(`payment_client.Payment`, `payment_client.Event`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping

import grpc

from . import _core, errors
from .gen.payment.v1 import events_pb2, events_pb2_grpc, payment_pb2, payment_pb2_grpc
from .retry import RetryPolicy


class PaymentClient:
    """A merchant's connection to the payment service's gRPC API (Envoy's edge or the service)."""

    def __init__(self, target: str, api_key: str, *, timeout: float | None = 10.0,
                 retry: RetryPolicy | None = None, tls: bool | None = None,
                 root_certificates: bytes | str | os.PathLike | None = None,
                 rng: random.Random | None = None) -> None:
        self._settings = _core.Settings.build(target, api_key, timeout, retry, tls, root_certificates)
        credentials = self._settings.credentials()
        options = self._settings.options()
        self._channel = (grpc.secure_channel(target, credentials, options) if credentials
                         else grpc.insecure_channel(target, options))
        self._payments = payment_pb2_grpc.PaymentServiceStub(self._channel)
        self._events = events_pb2_grpc.EventServiceStub(self._channel)
        self._rng = rng
        self._sleep = time.sleep

    def __repr__(self) -> str:
        return f"PaymentClient({self._settings!r})"

    def __enter__(self) -> PaymentClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request, idempotency_key: str | None = None):
        attempts = _core.Attempts(self._settings, self._rng)
        metadata = self._settings.metadata(idempotency_key)
        while True:
            try:
                return method(request, timeout=attempts.start(), metadata=metadata)
            except grpc.RpcError as exc:
                error = errors.from_rpc_error(exc, attempts.count)
                wait = attempts.wait_before_retry(error)
                if wait is None:
                    raise error from exc
                self._sleep(wait)

    # payments

    def create_payment(self, amount: int, currency: str, *, payment_method: str = "", capture_method=None,
                       customer_id: str = "", description: str = "", metadata: Mapping[str, str] | None = None,
                       processor: str = "", idempotency_key: str | None = None) -> payment_pb2.Payment:
        """Create (authorize) a payment; `capture_method` is "MANUAL" (the default) or "AUTOMATIC"."""
        request = _core.create_request(amount, currency, payment_method=payment_method,
                                       capture_method=capture_method, customer_id=customer_id,
                                       description=description, metadata=metadata, processor=processor)
        key = idempotency_key or _core.new_idempotency_key()
        return self._call(self._payments.CreatePayment, request, key).payment

    def get_payment(self, payment_id: str) -> payment_pb2.Payment:
        request = payment_pb2.GetPaymentRequest(payment_id=payment_id)
        return self._call(self._payments.GetPayment, request).payment

    def list_payments(self, *, page_size: int = 0, page_token: str = "", status=None,
                      customer_id: str = "") -> payment_pb2.ListPaymentsResponse:
        """One page (`.payments`, `.next_page_token`), newest first."""
        request = _core.list_payments_request(page_size, page_token, status, customer_id)
        return self._call(self._payments.ListPayments, request)

    def iter_payments(self, *, status=None, customer_id: str = "",
                      page_size: int = 100) -> Iterator[payment_pb2.Payment]:
        """Every payment that matches, page after page."""
        token = ""
        while True:
            page = self.list_payments(page_size=page_size, page_token=token, status=status, customer_id=customer_id)
            yield from page.payments
            token = page.next_page_token
            if not token:
                return

    def process_payment(self, payment_id: str, action, *, amount: int | None = None, reason: str = "",
                        idempotency_key: str | None = None) -> payment_pb2.Payment:
        """CAPTURE, REFUND or CANCEL; `amount` None means the whole capturable / refundable amount."""
        request = _core.process_request(payment_id, action, amount, reason)
        key = idempotency_key or _core.new_idempotency_key()
        return self._call(self._payments.ProcessPayment, request, key).payment

    def capture(self, payment_id: str, amount: int | None = None, *,
                idempotency_key: str | None = None) -> payment_pb2.Payment:
        return self.process_payment(payment_id, "CAPTURE", amount=amount, idempotency_key=idempotency_key)

    def refund(self, payment_id: str, amount: int | None = None, *, reason: str = "",
               idempotency_key: str | None = None) -> payment_pb2.Payment:
        return self.process_payment(payment_id, "REFUND", amount=amount, reason=reason,
                                    idempotency_key=idempotency_key)

    def cancel(self, payment_id: str, *, reason: str = "", idempotency_key: str | None = None) -> payment_pb2.Payment:
        return self.process_payment(payment_id, "CANCEL", reason=reason, idempotency_key=idempotency_key)

    def health(self) -> payment_pb2.HealthCheckResponse:
        return self._call(self._payments.HealthCheck, payment_pb2.HealthCheckRequest())

    # events

    def get_event(self, event_id: str) -> events_pb2.Event:
        return self._call(self._events.GetEvent, events_pb2.GetEventRequest(event_id=event_id)).event

    def list_events(self, *, payment_id: str = "", type: str = "", created_after=None, created_before=None,
                    page_size: int = 0, page_token: str = "") -> events_pb2.ListEventsResponse:
        """One page of events, newest first (`.events`, `.next_page_token`)."""
        request = _core.list_events_request(page_size, page_token, payment_id, type, created_after, created_before)
        return self._call(self._events.ListEvents, request)

    def iter_events(self, *, payment_id: str = "", type: str = "", created_after=None, created_before=None,
                    page_size: int = 100) -> Iterator[events_pb2.Event]:
        """Every matching event, newest first, page after page."""
        token = ""
        while True:
            page = self.list_events(payment_id=payment_id, type=type, created_after=created_after,
                                    created_before=created_before, page_size=page_size, page_token=token)
            yield from page.events
            token = page.next_page_token
            if not token:
                return

    def watch_events(self, after: str = "now", *, reconnect: bool = True) -> Iterator[events_pb2.Event]:
        """The merchant's events as they happen, oldest first, without heartbeats.

        `after` is "now" or the id of the last event you processed. When the stream breaks
        with UNAVAILABLE or ABORTED, it reconnects (backoff from the retry policy) after the
        last event it yielded, so nothing is missed or repeated (docs/events.md); a break
        before the first event, with after="now", resumes from "now" again. Stop by leaving
        the loop (the stream is cancelled) or by `close()`.
        """
        cursor, failures = after, 0
        while True:
            call = self._events.WatchEvents(events_pb2.WatchEventsRequest(after=cursor),
                                            metadata=self._settings.metadata())
            try:
                for message in call:
                    if message.HasField("event"):
                        failures, cursor = 0, message.event.event_id
                        yield message.event
                return
            except grpc.RpcError as exc:
                failures += 1
                error = errors.from_rpc_error(exc, failures)
                if not (reconnect and error.retryable and failures < self._settings.retry.max_attempts):
                    raise error from exc
                self._sleep(self._settings.retry.backoff(failures, self._rng))
            finally:
                call.cancel()
