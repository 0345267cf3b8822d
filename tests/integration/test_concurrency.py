"""Money is never doubled: concurrent refunds, captures and cancels across
several server processes on one database (no in-process locks involved)."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import grpc
import pytest

from service.gen.payment.v1 import payment_pb2 as pb

from .conftest import auth
from .test_grpc_api import details

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("audited")]


async def test_thirty_concurrent_refunds_across_two_processes(server_processes, key, record):
    replicas = server_processes(2)
    stubs = itertools.cycle([r.stub for r in replicas])
    payment = (await replicas[0].stub.CreatePayment(
        pb.CreatePaymentRequest(amount=1000, currency="USD", capture_method=pb.AUTOMATIC), metadata=auth(key))).payment
    request = pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.REFUND, amount=100)
    results = await asyncio.gather(*[next(stubs).ProcessPayment(request, metadata=auth(key)) for _ in range(30)],
                                   return_exceptions=True)
    successes = [r for r in results if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    reasons = {details(f)["ErrorInfo"].reason for f in failures}
    final = (await replicas[1].stub.GetPayment(pb.GetPaymentRequest(payment_id=payment.payment_id),
                                               metadata=auth(key))).payment
    record("30 concurrent refunds of 100 on 1000, 2 processes", fired=30, successes=len(successes),
           rejected=len(failures), amount_refunded=final.amount_refunded,
           over_refund=max(0, final.amount_refunded - 1000))
    assert len(successes) == 10
    assert reasons and reasons <= {"REFUND_EXCEEDS_CAPTURED", "PAYMENT_NOT_REFUNDABLE"}
    assert final.amount_refunded == 1000 and final.status == pb.REFUNDED
    assert sum(r.amount for r in final.refunds if r.status == pb.REFUND_SUCCEEDED) == 1000


async def test_capture_cancel_races_end_in_one_consistent_state(server_processes, key, record):
    replicas = server_processes(2)
    outcomes = {"captured": 0, "canceled": 0}
    for _ in range(10):
        payment = (await replicas[0].stub.CreatePayment(pb.CreatePaymentRequest(amount=500, currency="USD"),
                                                        metadata=auth(key))).payment
        capture = pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.CAPTURE)
        cancel = pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.CANCEL)
        results = await asyncio.gather(
            *[replicas[i % 2].stub.ProcessPayment(capture if i % 2 == 0 else cancel, metadata=auth(key))
              for i in range(6)], return_exceptions=True)
        winners = {r.payment.status for r in results if not isinstance(r, BaseException)}
        losers = [r for r in results if isinstance(r, BaseException)]
        final = (await replicas[1].stub.GetPayment(pb.GetPaymentRequest(payment_id=payment.payment_id),
                                                   metadata=auth(key))).payment
        assert len(winners) == 1 and len(losers) == 5, (winners, len(losers))
        assert all(f.code() == grpc.StatusCode.FAILED_PRECONDITION for f in losers)
        assert final.status in (pb.CAPTURED, pb.CANCELED) and {final.status} == winners
        assert final.amount_captured == (500 if final.status == pb.CAPTURED else 0)
        outcomes["captured" if final.status == pb.CAPTURED else "canceled"] += 1
    record("capture/cancel races, 10 payments x 6 requests, 2 processes", fired=60, winners=10, **outcomes,
           inconsistent=0)


async def test_twenty_concurrent_creates_with_one_key_across_processes(server_processes, postgres, key, record):
    replicas = server_processes(2)
    idem = f"race-{uuid.uuid4()}"
    request = pb.CreatePaymentRequest(amount=321, currency="USD")
    metadata = auth(key, idempotency_key=idem)
    results = await asyncio.gather(*[replicas[i % 2].stub.CreatePayment(request, metadata=metadata)
                                     for i in range(20)], return_exceptions=True)
    ids = {r.payment.payment_id for r in results if not isinstance(r, BaseException)}
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(f.code() == grpc.StatusCode.ABORTED for f in failures)
    for _ in range(50):  # the losers retry until the winner has finished
        if not failures:
            break
        await asyncio.sleep(0.1)
        retried = await asyncio.gather(*[replicas[0].stub.CreatePayment(request, metadata=metadata)
                                         for _ in failures], return_exceptions=True)
        ids |= {r.payment.payment_id for r in retried if not isinstance(r, BaseException)}
        failures = [r for r in retried if isinstance(r, BaseException)]
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.adapters.tables import payments

    engine = create_async_engine(postgres)
    async with engine.connect() as connection:
        created = (await connection.execute(select(func.count()).where(
            payments.c.merchant_id == f"acct_it_{key.removeprefix('sk_it_')}"))).scalar()
    await engine.dispose()
    record("idempotency race, 20 creates with one key, 2 processes", fired=20, payments=created,
           distinct_ids_returned=len(ids), duplicates=created - 1)
    assert len(ids) == 1 and created == 1
