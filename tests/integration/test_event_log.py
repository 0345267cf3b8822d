"""The event log on real PostgreSQL: one event per change, written in the
change's transaction, numbered 1, 2, 3... per payment, with the right actor."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from sqlalchemy import select

from service.adapters.event_tables import events
from service.adapters.repository import SqlUnitOfWork
from service.domain import ids
from service.domain.model import CaptureMethod, Payment
from service.domain.processor import ProcessorPayment, ProcessorStatus
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.audit import api_key_actor
from service.service_layer.reconcile import reconcile
from service.service_layer.webhooks import ProcessorEvent, apply_event

from .conftest import API_KEYS, auth

pytestmark = pytest.mark.integration


async def log_of(api, payment_id: str) -> list:
    async with api.app.engine.connect() as connection:
        rows = (await connection.execute(
            select(events).where(events.c.payment_id == payment_id).order_by(events.c.id))).all()
    return rows


async def test_every_grpc_change_leaves_one_event_with_the_key_as_actor(api, key):
    created = (await api.stub.CreatePayment(pb.CreatePaymentRequest(amount=1000, currency="USD"),
                                            metadata=auth(key, x_request_id="req-events-1"))).payment
    process = pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.CAPTURE)
    await api.stub.ProcessPayment(process, metadata=auth(key))
    refund = pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.REFUND, amount=400)
    final = (await api.stub.ProcessPayment(refund, metadata=auth(key))).payment

    rows = await log_of(api, created.payment_id)
    assert [r.type for r in rows] == [
        "payment.created", "payment.authorized", "payment.capture_requested", "payment.captured",
        "refund.created", "refund.succeeded", "payment.partially_refunded",
    ]
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    assert final.status == pb.PARTIALLY_REFUNDED
    assert {r.actor for r in rows} == {api_key_actor(key)} and key not in rows[0].actor
    assert rows[0].request_id == "req-events-1"
    assert {r.merchant_id for r in rows} == {API_KEYS[key]}
    assert rows[-1].data["status"] == "PARTIALLY_REFUNDED" and rows[-1].data["version"] == len(rows)
    assert rows[0].data["status"] == "PROCESSING"
    assert rows[4].refund_id == rows[5].refund_id == rows[6].refund_id != ""
    assert all(r.event_id.startswith("evt_") for r in rows)


async def test_a_refused_change_writes_no_event(api, key):
    created = (await api.stub.CreatePayment(pb.CreatePaymentRequest(amount=1000, currency="USD"),
                                            metadata=auth(key))).payment
    with pytest.raises(grpc.aio.AioRpcError):
        await api.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.REFUND),
                                      metadata=auth(key))
    assert [r.type for r in await log_of(api, created.payment_id)] == ["payment.created", "payment.authorized"]


async def test_a_rolled_back_change_writes_no_event(api, key):
    created = (await api.stub.CreatePayment(pb.CreatePaymentRequest(amount=1000, currency="USD"),
                                            metadata=auth(key))).payment
    async with SqlUnitOfWork(api.app.engine) as uow:
        payment = await uow.payments.get(API_KEYS[key], created.payment_id, for_update=True)
        payment.begin_cancel()
        await uow.payments.save(payment)
        await uow.journal.flush()  # even written, the rows go with the rollback
    assert len(await log_of(api, created.payment_id)) == 2


async def test_reconcile_and_processor_webhooks_are_the_actors_of_their_changes(api, key):
    merchant = API_KEYS[key]
    payment = Payment.new(payment_id=ids.new_payment_id(), merchant_id=merchant, amount=700, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="inhouse", payment_method="pm_card_visa")
    async with SqlUnitOfWork(api.app.engine) as uow:  # as if the server died before asking the processor
        await uow.payments.add(payment)
        await uow.commit()
    await reconcile(api.app.deps, older_than=timedelta(0))
    rows = await log_of(api, payment.payment_id)
    assert [(r.type, r.actor) for r in rows] == [("payment.created", "system"), ("payment.authorized", "reconcile")]

    reference = rows[-1].data["processor_reference"]
    view = ProcessorPayment(reference=reference, status=ProcessorStatus.CAPTURED, amount=700, amount_captured=700)
    event = ProcessorEvent(event_id="evt_inhouse_test_1", type="payment.captured", processor="inhouse", view=view,
                           ours=(merchant, payment.payment_id))
    assert await apply_event(event, api.app.deps) == "applied"
    assert await apply_event(event, api.app.deps) == "duplicate"
    rows = await log_of(api, payment.payment_id)
    assert [(r.type, r.actor) for r in rows][2:] == [("payment.captured", "processor:inhouse event evt_inhouse_test_1")]
    assert [r.sequence for r in rows] == [1, 2, 3]
