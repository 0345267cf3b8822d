"""The payment-client library (clients/python) against the real stack, through Envoy's gRPC port.

Sync and async clients: create/get/list/process, typed errors with the service's ErrorInfo
reasons and field violations, idempotency keys (given, generated, reused by retries), the
events helpers, TLS with the dev CA, and a retry after a real UNAVAILABLE (a TCP proxy that
resets the connection once the service has answered) that creates one payment, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading

import asyncpg
import grpc
import pytest
from payment_client import NO_RETRY, AsyncPaymentClient, PaymentClient, RetryPolicy, errors
from payment_client.gen.payment.v1 import payment_pb2

from devtools.devstack import DEV_TLS
from tests.fixtures.cutting_proxy import CuttingProxy

pytestmark = pytest.mark.e2e

FLOW = ["payment.created", "payment.authorized", "payment.capture_requested", "payment.captured"]
PATIENT = RetryPolicy(max_attempts=8, initial_backoff=0.2, max_backoff=2.0)


@pytest.fixture
def client(stack, e2e_key):
    with PaymentClient(stack.grpc, api_key=e2e_key, timeout=30) as client:
        yield client


def test_create_get_list_capture_and_refund(client):
    created = client.create_payment(2500, "EUR", customer_id="cus_client", metadata={"order": "A-1"})
    assert created.status == payment_pb2.REQUIRES_CAPTURE and created.payment_id.startswith("pay_")
    assert client.get_payment(created.payment_id) == created
    captured = client.capture(created.payment_id)
    assert captured.status == payment_pb2.CAPTURED and captured.amount_captured == 2500
    refunded = client.refund(created.payment_id, 1000, reason="requested_by_customer")
    assert refunded.status == payment_pb2.PARTIALLY_REFUNDED and refunded.amount_refunded == 1000
    other = client.create_payment(700, "EUR", customer_id="cus_client")
    assert client.cancel(other.payment_id).status == payment_pb2.CANCELED
    page = client.list_payments(page_size=1, customer_id="cus_client")
    assert len(page.payments) == 1 and page.next_page_token
    assert [p.payment_id for p in client.iter_payments(page_size=1)] == [other.payment_id, created.payment_id]
    assert [p.payment_id for p in client.iter_payments(status="CANCELED")] == [other.payment_id]


def test_errors_are_typed_with_the_services_reason_and_field_violations(client, stack):
    with pytest.raises(errors.InvalidArgument) as bad:
        client.create_payment(-5, "EUR")
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT and bad.value.attempts == 1
    assert [v.field for v in bad.value.field_violations] == ["amount"], bad.value
    assert bad.value.reason and bad.value.domain == "payments.v1"
    with pytest.raises(errors.NotFound) as missing:
        client.get_payment("pay_" + "0" * 26)
    assert missing.value.reason, missing.value
    created = client.create_payment(900, "USD")
    with pytest.raises(errors.FailedPrecondition) as state:
        client.refund(created.payment_id)
    assert state.value.attempts == 1 and not state.value.retryable
    with PaymentClient(stack.grpc, api_key="sk_test_nobody") as stranger, pytest.raises(errors.Unauthenticated):
        stranger.list_payments()
    with pytest.raises(ValueError, match="action"):
        client.process_payment(created.payment_id, "TELEPORT")


def test_an_idempotency_key_returns_the_first_payment_and_rejects_other_parameters(client):
    first = client.create_payment(1500, "EUR", idempotency_key="order-42")
    again = client.create_payment(1500, "EUR", idempotency_key="order-42")
    assert again.payment_id == first.payment_id
    with pytest.raises(errors.FailedPrecondition) as reused:
        client.create_payment(1600, "EUR", idempotency_key="order-42")
    assert reused.value.reason == "IDEMPOTENCY_KEY_REUSED" and reused.value.attempts == 1
    unkeyed = [client.create_payment(1500, "EUR") for _ in range(2)]
    assert len({p.payment_id for p in unkeyed} | {first.payment_id}) == 3  # a fresh key per call
    capture_key = "capture-42"
    assert client.capture(first.payment_id, idempotency_key=capture_key).status == payment_pb2.CAPTURED
    assert client.capture(first.payment_id, idempotency_key=capture_key).amount_captured == 1500


def test_a_create_whose_answer_is_lost_is_retried_and_pays_once(stack, e2e_key, record):
    proxy = CuttingProxy(stack.grpc)
    try:
        with PaymentClient(proxy.target, api_key=e2e_key, timeout=30, retry=PATIENT) as client:
            payment = client.create_payment(4200, "EUR", customer_id="cus_retry")
    finally:
        proxy.close()
    record("client_retry_after_lost_answer", connections=proxy.connections, cuts=proxy.cuts)
    assert proxy.cuts == 1 and proxy.connections >= 2  # the first answer really was lost
    with PaymentClient(stack.grpc, api_key=e2e_key) as direct:
        assert [p.payment_id for p in direct.iter_payments()] == [payment.payment_id]
        created = [e for e in direct.iter_events(payment_id=payment.payment_id) if e.type == "payment.created"]
    assert len(created) == 1 and payment.status == payment_pb2.REQUIRES_CAPTURE


def test_without_retries_the_lost_answer_is_an_unavailable_error(stack, e2e_key):
    proxy = CuttingProxy(stack.grpc)
    try:
        with PaymentClient(proxy.target, api_key=e2e_key, timeout=30, retry=NO_RETRY) as client:
            with pytest.raises(errors.Unavailable) as lost:
                client.create_payment(4200, "EUR", idempotency_key="lost-1")
            assert lost.value.retryable and lost.value.attempts == 1
            # the payment exists; the same key (what a retry sends) returns it
            with PaymentClient(stack.grpc, api_key=e2e_key) as direct:
                kept = direct.create_payment(4200, "EUR", idempotency_key="lost-1")
                assert [p.payment_id for p in direct.iter_payments()] == [kept.payment_id]
    finally:
        proxy.close()


def test_list_get_and_watch_events(client):
    before = client.create_payment(100, "EUR")
    cursor = client.list_events(payment_id=before.payment_id, page_size=1).events[0].event_id
    payment = client.create_payment(2500, "USD")
    client.capture(payment.payment_id)
    listed = list(client.iter_events(payment_id=payment.payment_id, page_size=2))
    assert [e.type for e in reversed(listed)] == FLOW
    assert client.get_event(listed[0].event_id) == listed[0]
    watched = []
    for event in client.watch_events(after=cursor):
        watched.append(event)
        if event.type == "payment.captured":
            break
    assert [e.type for e in watched] == FLOW and {e.payment_id for e in watched} == {payment.payment_id}
    assert [e.event_id for e in watched] == [e.event_id for e in reversed(listed)]


def test_a_watch_broken_mid_stream_resumes_after_its_last_event(stack, e2e_key, record):
    with PaymentClient(stack.grpc, api_key=e2e_key, timeout=30) as direct:
        cursor = client_cursor(direct)
        proxy = CuttingProxy(stack.grpc, after_data_frames=1)  # the stream dies at its 2nd message frame
        watched: list = []
        authorized = threading.Event()

        def watch() -> None:
            with PaymentClient(proxy.target, api_key=e2e_key, retry=PATIENT) as watcher:
                for event in watcher.watch_events(after=cursor):
                    watched.append(event)
                    if event.type == "payment.authorized":
                        authorized.set()
                    if event.type == "payment.captured":
                        return

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            payment = direct.create_payment(2500, "USD")
            assert authorized.wait(30), watched
            direct.capture(payment.payment_id)
            thread.join(60)
        finally:
            proxy.close()
    record("client_watch_resumed", connections=proxy.connections, cuts=proxy.cuts, events=len(watched))
    assert not thread.is_alive() and proxy.cuts == 1 and proxy.connections == 2
    assert [e.type for e in watched] == FLOW  # nothing missed, nothing twice
    assert len({e.event_id for e in watched}) == 4


def client_cursor(client: PaymentClient) -> str:
    """The id of the merchant's newest event (a payment made for it)."""
    payment = client.create_payment(100, "EUR")
    return client.list_events(payment_id=payment.payment_id, page_size=1).events[0].event_id


def test_tls_with_the_dev_ca(stack, e2e_key):
    target = f"localhost:{stack.env['ENVOY_TLS_PORT']}"
    with PaymentClient(target, api_key=e2e_key, root_certificates=DEV_TLS / "ca.crt") as client:
        created = client.create_payment(1200, "EUR")
        assert client.get_payment(created.payment_id).amount == 1200
    with PaymentClient(target, api_key=e2e_key, tls=True, retry=NO_RETRY, timeout=10) as untrusting:
        with pytest.raises(errors.Unavailable):  # the system roots do not know the dev CA
            untrusting.list_payments()


async def test_the_async_client_creates_processes_watches_and_retries(stack, e2e_key):
    proxy = CuttingProxy(stack.grpc)
    try:
        async with AsyncPaymentClient(proxy.target, api_key=e2e_key, timeout=30, retry=PATIENT) as client:
            created = await client.create_payment(3100, "EUR", capture_method="AUTOMATIC")
            assert proxy.cuts == 1 and created.status == payment_pb2.CAPTURED
            assert [p.payment_id async for p in client.iter_payments()] == [created.payment_id]
            refunded = await client.refund(created.payment_id)
            assert refunded.status == payment_pb2.REFUNDED
            with pytest.raises(errors.NotFound):
                await client.get_payment("pay_" + "1" * 26)
            with pytest.raises(errors.InvalidArgument) as bad:
                await client.create_payment(100, "EURO")
            assert [v.field for v in bad.value.field_violations] == ["currency"]
            first = [e async for e in client.iter_events(payment_id=created.payment_id)][-1]
            second = await client.create_payment(200, "EUR")
            stream = client.watch_events(after=first.event_id)
            seen = await asyncio.wait_for(_until(stream, second.payment_id), timeout=30)
            assert [e.type for e in seen][-2:] == ["payment.created", "payment.authorized"]
    finally:
        proxy.close()


class CountingRandom(random.Random):
    """The client's jitter source, counting the retries it was asked to wait for."""

    retries = 0

    def uniform(self, a: float, b: float) -> float:
        self.retries += 1
        return super().uniform(a, b)


@contextlib.asynccontextmanager
async def ledger_held(postgres: str):
    """Hold the in-house ledger's payments table (SHARE mode: its inserts wait) so that a create
    stays in flight with its key claimed until the block ends. Without it a fast create could
    finish before the other calls with its key arrived, and they replayed it (a correct answer,
    but then there was no ABORTED to see: the test failed that way once)."""
    conn = await asyncpg.connect(postgres.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("BEGIN; LOCK TABLE inhouse_payments IN SHARE MODE")
        yield conn
    finally:
        await conn.close()  # ends the transaction: the waiting create goes on


async def until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"not seen within {timeout}s: {what}"
        await asyncio.sleep(0.02)


async def create_waits_on_ledger(ledger) -> bool:
    return bool(await ledger.fetchval("SELECT count(*) FROM pg_locks "
                                      "WHERE relation = 'inhouse_payments'::regclass AND NOT granted"))


async def test_concurrent_calls_with_one_key_are_aborted_then_retried_into_one_payment(stack, e2e_key, record,
                                                                                       postgres):
    async with AsyncPaymentClient(stack.grpc, api_key=e2e_key, retry=NO_RETRY, timeout=30) as plain:
        async with ledger_held(postgres) as ledger:
            calls = [asyncio.ensure_future(plain.create_payment(500, "EUR", idempotency_key="race-0"))
                     for _ in range(8)]
            await until(lambda: create_waits_on_ledger(ledger), "a create waiting on the in-house ledger")
            await asyncio.wait(calls, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        answers = await asyncio.gather(*calls, return_exceptions=True)
    aborted = [a for a in answers if isinstance(a, errors.Aborted)]
    assert all(a.reason == "IDEMPOTENCY_KEY_IN_USE" and a.retryable for a in aborted)
    assert aborted and len(answers) - len(aborted) >= 1, answers  # the key was in flight: a real ABORTED
    rng = CountingRandom(3)
    async with AsyncPaymentClient(stack.grpc, api_key=e2e_key, retry=PATIENT, timeout=60, rng=rng) as client:
        async with ledger_held(postgres) as ledger:
            calls = [asyncio.ensure_future(client.create_payment(700, "EUR", idempotency_key="race-1"))
                     for _ in range(8)]
            await until(lambda: create_waits_on_ledger(ledger), "a create waiting on the in-house ledger")

            async def retried() -> bool:
                return rng.retries >= 1

            await until(retried, "a client retry of an ABORTED call")
        paid = await asyncio.gather(*calls)
        everything = [p async for p in client.iter_payments()]
    record("client_same_key_races", aborted_without_retry=len(aborted), retries=rng.retries)
    assert len({p.payment_id for p in paid}) == 1 and rng.retries >= 1
    assert sorted(p.amount for p in everything) == [500, 700]  # one payment per key


async def _until(stream, payment_id: str) -> list:
    seen = []
    async for event in stream:
        seen.append(event)
        if event.payment_id == payment_id and event.type == "payment.authorized":
            await stream.aclose()
            return seen
    return seen


def test_the_client_readme_example_runs_as_written(stack):
    import pathlib
    import re
    import subprocess
    import sys

    readme = pathlib.Path(__file__).resolve().parents[2] / "clients/python/README.md"
    [example] = re.findall(r"## Use\n\n```python\n(.*?)```", readme.read_text(), re.S)
    port = stack.grpc.rsplit(":", 1)[1]
    done = subprocess.run([sys.executable, "-c", example.replace("localhost:8080", f"localhost:{port}")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(payment_pb2.PARTIALLY_REFUNDED)
    assert "refund.succeeded 6" in lines and "payment.partially_refunded 7" in lines and "payment.created 1" in lines
    assert lines[-1] == """INVALID_ARGUMENT [('currency', "'EURO' is not an ISO 4217 currency code")]""", lines[-1]
