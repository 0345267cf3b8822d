"""Reconciliation looks at the processor before it re-sends anything, and re-sends only while
the processor still keeps the idempotency key; past that, a person decides.

The in-house processor's ledger (real PostgreSQL) is the processor's view: the
figures below count its charges and refunds for each payment."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from service.adapters.repository import SqlUnitOfWork
from service.adapters.tables import inhouse_idempotency_keys, inhouse_payments, inhouse_refunds
from service.bootstrap import bootstrap
from service.config import Settings
from service.domain import ids
from service.domain.model import CaptureMethod, Payment, RefundStatus, Status
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.auditor import audit
from service.service_layer.reconcile import reconcile, requiring_review

from .conftest import API_KEYS, auth

pytestmark = pytest.mark.integration


@pytest.fixture
async def short_retention(postgres):
    """The service as configured with an in-house processor that keeps keys for 1 second."""
    app = bootstrap(Settings(database_url=postgres, api_keys=API_KEYS, inhouse_idempotency_retention_seconds=1))
    yield app
    await app.close()


async def ledger_counts(database_url: str, payment_id: str) -> dict[str, int]:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        charges = (await connection.execute(select(func.count()).where(
            inhouse_payments.c.payment_id == payment_id))).scalar()
        refunds = (await connection.execute(select(func.count()).select_from(
            inhouse_refunds.join(inhouse_payments, inhouse_refunds.c.payment_reference == inhouse_payments.c.reference))
            .where(inhouse_payments.c.payment_id == payment_id))).scalar()
        keys = (await connection.execute(select(func.count()).where(
            inhouse_idempotency_keys.c.key == f"{payment_id}:authorize"))).scalar()
    await engine.dispose()
    return {"charges": charges, "refunds": refunds, "authorize_keys": keys}


async def begun_but_never_sent(app, merchant: str, amount: int = 700) -> Payment:
    """A payment whose begin step committed and whose process died before calling the processor."""
    payment = Payment.new(payment_id=ids.new_payment_id(), merchant_id=merchant, amount=amount, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="inhouse", payment_method="pm_card_visa")
    async with app.deps.uow() as uow:
        await uow.payments.add(payment)
        await uow.commit()
    return payment


async def get(app, merchant: str, payment_id: str) -> Payment:
    async with app.deps.uow() as uow:
        return await uow.payments.get(merchant, payment_id)


async def test_an_authorization_that_happened_is_found_and_settled_with_no_second_authorization(
        api, postgres, key, record):
    merchant = API_KEYS[key]
    request = pb.CreatePaymentRequest(amount=900, currency="USD", payment_method="pm_card_timeout")
    first = (await api.stub.CreatePayment(request, metadata=auth(key))).payment
    assert first.status == pb.PROCESSING and not first.processor_reference  # the answer was lost
    report = await reconcile(api.app.deps, older_than=timedelta(0))
    settled = await get(api.app, merchant, first.payment_id)
    ledger = await ledger_counts(postgres, first.payment_id)
    record("reconcile: authorization found at the processor", found=report.found_at_processor,
           resent=report.resent, **ledger)
    assert settled.status is Status.REQUIRES_CAPTURE and settled.processor_reference
    assert (report.found_at_processor, report.resent) == (1, 0)
    assert ledger == {"charges": 1, "refunds": 0, "authorize_keys": 1}


async def test_past_the_retention_an_authorization_that_happened_is_still_found_not_resent(
        short_retention, postgres, key):
    merchant = API_KEYS[key]
    paid = await begun_but_never_sent(short_retention, merchant)
    # the processor did authorize it (the answer was lost): ask it directly with the same key
    processor = short_retention.deps.processors.get("inhouse")
    from service.domain.processor import AuthorizeRequest
    await processor.authorize(AuthorizeRequest(paid.payment_id, merchant, 700, "USD", "pm_card_visa", False),
                              idempotency_key=f"{paid.payment_id}:authorize")
    await asyncio.sleep(1.1)
    report = await reconcile(short_retention.deps, older_than=timedelta(0))
    assert (report.found_at_processor, report.resent, report.flagged) == (1, 0, 0)
    assert (await get(short_retention, merchant, paid.payment_id)).status is Status.REQUIRES_CAPTURE
    assert await ledger_counts(postgres, paid.payment_id) == {"charges": 1, "refunds": 0, "authorize_keys": 1}


async def test_a_young_call_with_no_trace_is_resent_once(api, postgres, key):
    merchant = API_KEYS[key]
    paid = await begun_but_never_sent(api.app, merchant)
    report = await reconcile(api.app.deps, older_than=timedelta(0))
    assert (report.found_at_processor, report.resent, report.flagged) == (0, 1, 0)
    assert (await get(api.app, merchant, paid.payment_id)).status is Status.REQUIRES_CAPTURE
    assert await ledger_counts(postgres, paid.payment_id) == {"charges": 1, "refunds": 0, "authorize_keys": 1}


async def test_past_the_retention_with_no_trace_it_is_never_resent_but_flagged_and_reported(
        short_retention, postgres, key, record):
    merchant = API_KEYS[key]
    paid = await begun_but_never_sent(short_retention, merchant)
    await asyncio.sleep(1.1)
    for _ in range(2):  # a second run leaves it alone
        report = await reconcile(short_retention.deps, older_than=timedelta(0))
    flagged = await get(short_retention, merchant, paid.payment_id)
    assert flagged.status is Status.PROCESSING and "no trace" in flagged.review_reason
    assert await ledger_counts(postgres, paid.payment_id) == {"charges": 0, "refunds": 0, "authorize_keys": 0}
    listed = [p for p in await requiring_review(short_retention.deps) if p["payment_id"] == paid.payment_id]
    assert len(listed) == 1 and listed[0]["pending_action"] == "AUTHORIZE"
    cli = subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "reconcile", "--report"],
                         env={**os.environ, "DATABASE_URL": postgres}, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1, cli.stderr
    assert paid.payment_id in [p["payment_id"] for p in json.loads(cli.stdout)["requiring_review"]]
    drifts = (await audit(short_retention.deps, merchants=(merchant,))).drifts
    assert [d.check for d in drifts] == ["review"]
    record("reconcile: past retention, no trace", resent=report.resent, flagged=1, charges=0)


async def test_a_refund_whose_answer_was_lost_is_found_in_the_ledger_not_resent(api, postgres, key):
    merchant = API_KEYS[key]
    created = (await api.stub.CreatePayment(pb.CreatePaymentRequest(
        amount=800, currency="USD", payment_method="pm_card_refundTimeout", capture_method=pb.AUTOMATIC),
        metadata=auth(key))).payment
    refunded = (await api.stub.ProcessPayment(pb.ProcessPaymentRequest(
        payment_id=created.payment_id, action=pb.REFUND, amount=300), metadata=auth(key))).payment
    assert refunded.refunds[0].status == pb.REFUND_PENDING
    report = await reconcile(api.app.deps, older_than=timedelta(0))
    settled = await get(api.app, merchant, created.payment_id)
    assert (report.found_at_processor, report.resent) == (1, 0)
    assert (settled.status, settled.amount_refunded, settled.refunds[0].status) == (
        Status.PARTIALLY_REFUNDED, 300, RefundStatus.SUCCEEDED)
    assert (await ledger_counts(postgres, created.payment_id))["refunds"] == 1
    assert (await audit(api.app.deps, merchants=(merchant,))).drifts == []


async def test_the_auditor_finds_a_drift_planted_in_the_database(api, postgres, key):
    merchant = API_KEYS[key]
    created = (await api.stub.CreatePayment(pb.CreatePaymentRequest(
        amount=500, currency="USD", capture_method=pb.AUTOMATIC), metadata=auth(key))).payment
    assert (await audit(api.app.deps, merchants=(merchant,))).drifts == []
    engine = create_async_engine(postgres)
    async with SqlUnitOfWork(engine) as uow:
        payment = await uow.payments.get(merchant, created.payment_id, for_update=True)
        payment.status = Status.PARTIALLY_REFUNDED  # a status its amounts do not support
        await uow.payments.save(payment)
        await uow.commit()
    await engine.dispose()
    await api.app.deps.cache.changed(payment)
    checks = sorted({d.check for d in (await audit(api.app.deps, merchants=(merchant,))).drifts})
    assert checks == ["status"]
    cli = subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "audit", "--merchant", merchant],
                         env={**os.environ, "DATABASE_URL": postgres}, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1, cli.stderr
    assert json.loads(cli.stdout)["drift_count"] >= 1
