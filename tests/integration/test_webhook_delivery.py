"""Outgoing webhooks end to end on real PostgreSQL: real server and worker
processes, real HTTP receivers on 127.0.0.1, signatures checked with the
documented scheme, per-payment order, retries, kill -9 and two workers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime

import grpc
import pytest

from devtools.devstack import free_port
from service.gen.payment.v1 import events_pb2 as epb
from service.gen.payment.v1 import events_pb2_grpc
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.signing import verify
from tests.fixtures.receiver import Receiver

from .conftest import auth

pytestmark = pytest.mark.integration
EVENTS_PER_PAYMENT = 7  # created, authorized, capture_requested, captured, refund created/succeeded, partially_refunded


class WorkerProcess:
    def __init__(self, database_url: str, log_dir, name: str, **env: str) -> None:
        self.log = (log_dir / f"{name}.log").open("ab")
        self.metrics_port = free_port()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "service.entrypoints.cli", "deliver"],
            env={**os.environ, "DATABASE_URL": database_url, "WEBHOOK_ALLOW_LOOPBACK": "true",
                 "WEBHOOK_BACKOFF_BASE_SECONDS": "0.2", "WEBHOOK_BACKOFF_MAX_SECONDS": "1",
                 "WEBHOOK_TIMEOUT_SECONDS": "5", "DELIVER_CONCURRENCY": "4",
                 "DELIVER_METRICS_PORT": str(self.metrics_port), "LOG_LEVEL": "WARNING", **env},
            stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def workers(postgres, work_dir):
    started: list[WorkerProcess] = []

    def start(count: int = 1, **env: str) -> list[WorkerProcess]:
        new = [WorkerProcess(postgres, work_dir, f"deliver-{len(started) + i}", **env) for i in range(count)]
        started.extend(new)
        return new

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
async def service(server_processes):
    # async, so that the process's grpc.aio channel is made inside the session's event loop whatever
    # ran before (a sync fixture has no current loop when no async test has run yet).
    (process,) = server_processes(1, WEBHOOK_ALLOW_LOOPBACK="true")
    process.events = events_pb2_grpc.EventServiceStub(process.channel)
    return process


async def make_payments(service, key: str, count: int, concurrency: int = 5) -> list[str]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with semaphore:
            created = (await service.stub.CreatePayment(pb.CreatePaymentRequest(amount=1000, currency="USD"),
                                                        metadata=auth(key))).payment
            await service.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id,
                                                                       action=pb.CAPTURE), metadata=auth(key))
            await service.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id,
                                                                       action=pb.REFUND, amount=100),
                                              metadata=auth(key))
            return created.payment_id

    return await asyncio.gather(*[one() for _ in range(count)])


async def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def check_order_and_signatures(receiver: Receiver, secret: str) -> dict:
    """Per payment, event n+1 was never received before event n was acknowledged; every signature verifies."""
    acked_at: dict[tuple[str, int], float] = {}
    bad_signatures = out_of_order = 0
    receipts = sorted(receiver.receipts, key=lambda r: r.received_at)
    for receipt in receipts:
        if receipt.status == 400:  # a cut body (the sender was killed mid-request): refused, sent again later
            continue
        event = json.loads(receipt.body)
        bad_signatures += not verify(receipt.body, receipt.signature, secret, int(receipt.received_at))
        assert event["event_id"] == receipt.event_id
        sequence = int(event["sequence"])
        previous = acked_at.get((event["payment_id"], sequence - 1))
        if sequence > 1 and (previous is None or previous > receipt.received_at):
            out_of_order += 1
        if 200 <= receipt.status < 300:
            acked_at.setdefault((event["payment_id"], sequence), receipt.finished_at)
    return {"bad_signatures": bad_signatures, "out_of_order": out_of_order}


async def test_a_receiver_that_fails_then_goes_down_then_returns_gets_every_event_in_order(service, workers, key,
                                                                                           record):
    failing = 6
    outage = {"over": False}
    # 6 failures, 3 successes, then the receiver is down until the test brings it back: first it hangs
    # up on every request, then (stopped) it refuses connections. Deciding the outage in the receiver,
    # not by when the test notices, keeps a fast worker from delivering everything before it starts.
    receiver = Receiver(answer=lambda n: 500 if n < failing else 200 if n < failing + 3 or outage["over"] else 0)
    created = await service.events.CreateWebhookEndpoint(
        epb.CreateWebhookEndpointRequest(url=receiver.url, description="test receiver"), metadata=auth(key))
    secret, endpoint_id = created.secret, created.endpoint.endpoint_id
    assert secret.startswith("whsec_")
    workers(1)
    payments = await make_payments(service, key, 10)
    want = len(payments) * EVENTS_PER_PAYMENT
    await wait_for(lambda: len(receiver.receipts) >= failing + 3, 60, "the first failures")
    await wait_for(lambda: receiver.hung_up > 0, 60, "a request during the outage")
    receiver.stop()  # down for a while: connection refused
    await asyncio.sleep(3)
    outage["over"] = True
    receiver.start()  # back, same port
    await wait_for(lambda: len(receiver.acknowledged()) >= want, 120, "every event acknowledged")

    checks = check_order_and_signatures(receiver, secret)
    acknowledged = receiver.acknowledged()
    ids = [r.event_id for r in receiver.receipts]
    repeats = {i for i in ids if ids.count(i) > 1}
    repeats_after_ack = sum(1 for r in receiver.receipts
                            if r.event_id in acknowledged and r.received_at > acknowledged[r.event_id].finished_at)
    attempts, token = [], ""
    for _ in range(100):
        page = await service.events.ListDeliveryAttempts(epb.ListDeliveryAttemptsRequest(
            endpoint_id=endpoint_id, page_size=100, page_token=token), metadata=auth(key))
        attempts.extend(page.attempts)
        token = page.next_page_token
        if not token:
            break
    outcomes = [a.outcome for a in attempts]
    record("webhooks: receiver 500 x6, then down 3 s, then up; 1 worker", events_produced=want,
           delivered=len(acknowledged), lost=want - len(acknowledged), retried=outcomes.count("retry"),
           received_more_than_once=len(repeats), repeats_after_ack=repeats_after_ack, **checks,
           attempts_listed=len(attempts), hung_up=receiver.hung_up)
    assert len(acknowledged) == want and checks == {"bad_signatures": 0, "out_of_order": 0}
    assert repeats_after_ack == 0  # duplicates only as retries of unacknowledged attempts
    assert outcomes.count("delivered") == want
    assert sum(1 for a in attempts if a.status_code == 500 and a.outcome == "retry") == failing
    assert any(a.status_code == 0 and a.error for a in attempts)  # the down period is recorded too


async def test_kill_9_of_a_worker_and_two_workers_at_once_lose_nothing_and_keep_order(service, workers, key, record):
    receiver = Receiver(delay=0.03)
    created = await service.events.CreateWebhookEndpoint(
        epb.CreateWebhookEndpointRequest(url=receiver.url), metadata=auth(key))
    first, _second = workers(2)
    payments = await make_payments(service, key, 20)
    want = len(payments) * EVENTS_PER_PAYMENT
    await wait_for(lambda: len(receiver.receipts) >= want // 4, 60, "a quarter of the events")
    first.kill()
    workers(1)  # a replacement, next to the survivor
    await wait_for(lambda: len(receiver.acknowledged()) >= want, 120, "every event acknowledged")

    checks = check_order_and_signatures(receiver, created.secret)
    acknowledged = receiver.acknowledged()
    listed = []
    token = ""
    for _ in range(100):
        page = await service.events.ListEvents(epb.ListEventsRequest(page_size=100, page_token=token),
                                               metadata=auth(key))
        listed.extend(page.events)
        token = page.next_page_token
        if not token:
            break
    latencies = sorted((acknowledged[e.event_id].finished_at - e.create_time.ToDatetime().timestamp()) * 1000
                       for e in listed if e.event_id in acknowledged)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    record("webhooks: 2 workers, one killed -9 mid-delivery, a third started", events_produced=want,
           delivered=len(acknowledged), lost=want - len(acknowledged),
           received_twice=len(receiver.receipts) - len({r.event_id for r in receiver.receipts}),
           in_flight_on_two_workers=receiver.overlaps, **checks,
           latency_ms_p50=round(statistics.median(latencies), 1), latency_ms_p99=round(p99, 1))
    assert len(listed) == want and len(acknowledged) == want
    assert checks == {"bad_signatures": 0, "out_of_order": 0} and receiver.overlaps == 0


async def test_410_disables_the_endpoint_and_rotation_signs_with_both_secrets(service, workers, key):
    gone = Receiver(answer=lambda n: 410)
    endpoint = await service.events.CreateWebhookEndpoint(
        epb.CreateWebhookEndpointRequest(url=gone.url, enabled_event_types=["payment.created"]), metadata=auth(key))
    kept = Receiver()
    other = await service.events.CreateWebhookEndpoint(epb.CreateWebhookEndpointRequest(url=kept.url),
                                                       metadata=auth(key))
    rotated = await service.events.RotateWebhookEndpointSecret(epb.RotateWebhookEndpointSecretRequest(
        endpoint_id=other.endpoint.endpoint_id, overlap_seconds=600), metadata=auth(key))
    workers(1)
    await make_payments(service, key, 2)
    await wait_for(lambda: len(kept.acknowledged()) >= 2 * EVENTS_PER_PAYMENT, 60, "the second endpoint's events")
    await wait_for(lambda: len(gone.receipts) >= 1, 30, "the 410")
    got = (await service.events.GetWebhookEndpoint(epb.GetWebhookEndpointRequest(
        endpoint_id=endpoint.endpoint.endpoint_id), metadata=auth(key))).endpoint
    assert not got.enabled and got.disabled_reason.startswith("410 Gone")
    sent_before = len(gone.receipts)  # 1 or 2: both payments' first events may have been in flight together
    assert 1 <= sent_before <= 2
    await make_payments(service, key, 1)
    await wait_for(lambda: len(kept.acknowledged()) >= 3 * EVENTS_PER_PAYMENT, 60, "the third payment's events")
    assert len(gone.receipts) == sent_before  # nothing more to a disabled endpoint
    for receipt in kept.receipts:
        now = int(receipt.received_at)
        assert verify(receipt.body, receipt.signature, rotated.secret, now)
        assert verify(receipt.body, receipt.signature, other.secret, now)  # the overlap window
        assert receipt.signature.count("v1=") == 2
    assert other.secret not in json.dumps([r.signature for r in kept.receipts])


@pytest.mark.parametrize("url, fragment", [
    ("http://example.com/hook", "https"),
    ("https://10.0.0.5/hook", "private"),
    ("https://169.254.169.254/latest/meta-data", "private"),
    ("https://[::ffff:192.168.1.1]/x", "private"),
    ("https://user:pw@example.com/", "user name"),
    ("ftp://example.com/", "https"),
    ("not a url", "URL"),
    ("https://no-such-host.invalid/hook", "does not resolve"),
])
async def test_bad_urls_are_invalid_argument_and_nothing_is_written(api, key, url, fragment):
    stub = events_pb2_grpc.EventServiceStub(api.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateWebhookEndpoint(epb.CreateWebhookEndpointRequest(url=url), metadata=auth(key))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "url" in caught.value.details() and fragment in caught.value.details()
    assert not (await stub.ListWebhookEndpoints(epb.ListWebhookEndpointsRequest(), metadata=auth(key))).endpoints


async def test_loopback_is_refused_without_the_local_development_setting(api, key):
    stub = events_pb2_grpc.EventServiceStub(api.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateWebhookEndpoint(epb.CreateWebhookEndpointRequest(url="https://127.0.0.1:9/x"),
                                         metadata=auth(key))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "loopback" in caught.value.details()


async def test_unknown_types_and_other_merchants_endpoints(service, key):
    from .conftest import API_KEYS

    other = next(k for k in API_KEYS if k != key)
    receiver = Receiver()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.events.CreateWebhookEndpoint(epb.CreateWebhookEndpointRequest(
            url=receiver.url, enabled_event_types=["payment.captured", "payment.vanished"]), metadata=auth(key))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "enabled_event_types[1]" in \
        caught.value.details()
    mine = (await service.events.CreateWebhookEndpoint(epb.CreateWebhookEndpointRequest(url=receiver.url),
                                                       metadata=auth(key))).endpoint
    for call, request in [
        (service.events.GetWebhookEndpoint, epb.GetWebhookEndpointRequest(endpoint_id=mine.endpoint_id)),
        (service.events.DeleteWebhookEndpoint, epb.DeleteWebhookEndpointRequest(endpoint_id=mine.endpoint_id)),
        (service.events.ListDeliveryAttempts, epb.ListDeliveryAttemptsRequest(endpoint_id=mine.endpoint_id)),
        (service.events.RotateWebhookEndpointSecret,
         epb.RotateWebhookEndpointSecretRequest(endpoint_id=mine.endpoint_id)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=auth(other))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, call
    assert (await service.events.GetWebhookEndpoint(epb.GetWebhookEndpointRequest(endpoint_id=mine.endpoint_id),
                                                    metadata=auth(key))).endpoint.enabled
    listed = await service.events.ListWebhookEndpoints(epb.ListWebhookEndpointsRequest(), metadata=auth(key))
    assert [e.endpoint_id for e in listed.endpoints] == [mine.endpoint_id]
    assert "secret" not in str(listed)


async def test_delivery_latency_to_a_healthy_receiver(service, workers, key, record):
    """Commit of the change -> 2xx at the receiver, for events produced at a steady pace."""
    receiver = Receiver()
    await service.events.CreateWebhookEndpoint(epb.CreateWebhookEndpointRequest(url=receiver.url),
                                               metadata=auth(key))
    workers(1)
    await asyncio.sleep(1.0)  # the worker is up
    payments = []
    for _ in range(10):
        payments += await make_payments(service, key, 1)
        await asyncio.sleep(0.2)
    want = len(payments) * EVENTS_PER_PAYMENT
    await wait_for(lambda: len(receiver.acknowledged()) >= want, 60, "every event acknowledged")
    acknowledged = receiver.acknowledged()
    created = {}
    for receipt in acknowledged.values():
        event = json.loads(receipt.body)
        stamp = event["create_time"].replace("Z", "+00:00")
        created[receipt.event_id] = datetime.fromisoformat(stamp).timestamp()
    latencies = sorted((acknowledged[i].finished_at - created[i]) * 1000 for i in acknowledged)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    checks = check_order_and_signatures(receiver, "")  # order only: the secret is not needed here
    record("webhooks: latency, healthy receiver, 1 worker, 10 payments at ~5/s", events=want,
           delivered=len(acknowledged), latency_ms_p50=round(statistics.median(latencies), 1),
           latency_ms_p99=round(p99, 1), out_of_order=checks["out_of_order"])
    assert len(acknowledged) == want and checks["out_of_order"] == 0
