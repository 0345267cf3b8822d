"""Nothing acknowledged is forgotten, nothing retried is doubled.

A server process is SIGKILLed in the middle of a stream of creates; every
acknowledged create must be in the database, and retrying every request with
its idempotency key (on another process) must create no duplicates. Payments
whose processor outcome was lost are settled by a retry or by reconciliation.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from service.adapters.tables import payments
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.reconcile import reconcile

from .conftest import API_KEYS, auth

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("audited")]

LEASE = "2"  # seconds before a retry may take over a dead request's key


async def rows(database_url: str, merchant: str) -> dict[str, str]:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        result = await connection.execute(
            select(payments.c.payment_id, payments.c.status).where(payments.c.merchant_id == merchant))
        found = {row.payment_id: row.status for row in result}
    await engine.dispose()
    return found


async def retry_until_done(stub, requests: dict[str, pb.CreatePaymentRequest], key: str) -> dict[str, str]:
    """Retry every request with its key until each has an answer (bounded)."""
    answers: dict[str, str] = {}
    for _ in range(100):
        pending = [k for k in requests if k not in answers]
        if not pending:
            return answers
        results = await asyncio.gather(*[stub.CreatePayment(requests[k], metadata=auth(key, idempotency_key=k))
                                         for k in pending], return_exceptions=True)
        for idem, result in zip(pending, results, strict=True):
            if not isinstance(result, BaseException):
                answers[idem] = result.payment.payment_id
            elif result.code() != grpc.StatusCode.ABORTED:  # only "key in use" is expected here
                raise result
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(requests) - len(answers)} requests never completed")


async def test_sigkill_during_a_stream_of_creates(server_processes, postgres, key, record):
    victim, survivor = server_processes(2, IDEMPOTENCY_LEASE_SECONDS=LEASE)
    merchant = API_KEYS[key]
    requests = {f"crash-{uuid.uuid4()}": pb.CreatePaymentRequest(amount=100 + i, currency="USD")
                for i in range(300)}
    acknowledged: dict[str, str] = {}

    async def fire(idem: str) -> None:
        try:
            reply = await victim.stub.CreatePayment(requests[idem], metadata=auth(key, idempotency_key=idem),
                                                    timeout=10)
            acknowledged[idem] = reply.payment.payment_id
        except grpc.aio.AioRpcError:
            pass  # the process died under this request

    async def killer() -> None:
        while len(acknowledged) < 60:
            await asyncio.sleep(0.005)
        victim.kill()

    semaphore = asyncio.Semaphore(16)

    async def bounded(idem: str) -> None:
        async with semaphore:
            await fire(idem)

    await asyncio.gather(killer(), *[bounded(k) for k in requests])
    stored = await rows(postgres, merchant)
    lost = [k for k, pid in acknowledged.items() if pid not in stored]
    assert not lost, f"acknowledged but not stored: {lost}"

    answers = await retry_until_done(survivor.stub, requests, key)
    for idem, payment_id in acknowledged.items():
        assert answers[idem] == payment_id, "a retry of an acknowledged create returned another payment"
    stored = await rows(postgres, merchant)
    record("SIGKILL during 300 creates (16 in flight), then retry all with their keys",
           fired=len(requests), acknowledged_before_kill=len(acknowledged), lost=len(lost),
           payments_in_db=len(stored), distinct_answers=len(set(answers.values())),
           duplicates=len(stored) - len(requests),
           still_processing=sum(1 for s in stored.values() if s == "PROCESSING"))
    assert len(stored) == len(requests) == len(set(answers.values()))
    assert set(stored.values()) == {"REQUIRES_CAPTURE"}


async def test_lost_outcome_is_settled_by_a_retry_with_the_same_key(server_processes, key):
    (replica,) = server_processes(1, IDEMPOTENCY_LEASE_SECONDS="1")
    request = pb.CreatePaymentRequest(amount=900, currency="USD", payment_method="pm_card_timeout")
    idem = f"timeout-{uuid.uuid4()}"
    first = (await replica.stub.CreatePayment(request, metadata=auth(key, idempotency_key=idem))).payment
    assert first.status == pb.PROCESSING
    await asyncio.sleep(1.1)
    settled = (await replica.stub.CreatePayment(request, metadata=auth(key, idempotency_key=idem))).payment
    assert (settled.payment_id, settled.status) == (first.payment_id, pb.REQUIRES_CAPTURE)


async def test_reconciliation_settles_lost_outcomes_once(api, key):
    request = pb.CreatePaymentRequest(amount=900, currency="USD", payment_method="pm_card_timeout")
    first = (await api.stub.CreatePayment(request, metadata=auth(key))).payment
    assert first.status == pb.PROCESSING
    for _ in range(2):  # a second pass finds nothing left to do
        await reconcile(api.app.deps, older_than=timedelta(0))
    settled = (await api.stub.GetPayment(pb.GetPaymentRequest(payment_id=first.payment_id),
                                         metadata=auth(key))).payment
    assert settled.status == pb.REQUIRES_CAPTURE and settled.processor_reference
    captured = (await api.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=first.payment_id,
                                                                       action=pb.CAPTURE),
                                              metadata=auth(key))).payment
    assert captured.amount_captured == 900
