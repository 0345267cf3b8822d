"""Idempotent creates and actions: replays, key reuse, and the concurrent race."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from service.gen.payment.v1 import payment_pb2 as pb

from .conftest import auth
from .test_grpc_api import count_payments, details

pytestmark = pytest.mark.integration


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


async def test_a_repeat_returns_the_first_result_unchanged(api, key):
    idem = new_key()
    request = pb.CreatePaymentRequest(amount=500, currency="USD", metadata={"a": "b"})
    first = await api.stub.CreatePayment(request, metadata=auth(key, idempotency_key=idem))
    second = await api.stub.CreatePayment(request, metadata=auth(key, idempotency_key=idem))
    assert second == first
    assert await count_payments(api, api.app.settings.api_keys[key]) == 1


async def test_request_id_field_works_like_the_header(api, key):
    request = pb.CreatePaymentRequest(amount=500, currency="USD", request_id=new_key())
    first = await api.stub.CreatePayment(request, metadata=auth(key))
    assert (await api.stub.CreatePayment(request, metadata=auth(key))) == first


async def test_header_and_request_id_must_agree(api, key):
    request = pb.CreatePaymentRequest(amount=500, currency="USD", request_id="one")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.CreatePayment(request, metadata=auth(key, idempotency_key="two"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in raised.value.details()


async def test_same_key_different_parameters_is_rejected(api, key):
    idem = new_key()
    await api.stub.CreatePayment(pb.CreatePaymentRequest(amount=500, currency="USD"),
                                 metadata=auth(key, idempotency_key=idem))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.CreatePayment(pb.CreatePaymentRequest(amount=501, currency="USD"),
                                     metadata=auth(key, idempotency_key=idem))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(raised.value)["ErrorInfo"].reason == "IDEMPOTENCY_KEY_REUSED"


async def test_keys_are_scoped_per_merchant(api, key):
    idem = new_key()
    request = pb.CreatePaymentRequest(amount=500, currency="USD")
    mine = await api.stub.CreatePayment(request, metadata=auth(key, idempotency_key=idem))
    theirs = await api.stub.CreatePayment(request, metadata=auth("sk_it_198", idempotency_key=idem))
    assert mine.payment.payment_id != theirs.payment.payment_id


async def test_process_actions_are_idempotent(api, key):
    request = pb.CreatePaymentRequest(amount=1000, currency="USD", capture_method=pb.AUTOMATIC)
    payment = (await api.stub.CreatePayment(request, metadata=auth(key))).payment
    idem = new_key()
    refund = pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.REFUND, amount=300)
    first = await api.stub.ProcessPayment(refund, metadata=auth(key, idempotency_key=idem))
    again = await api.stub.ProcessPayment(refund, metadata=auth(key, idempotency_key=idem))
    assert again == first
    assert (again.payment.amount_refunded, len(again.payment.refunds)) == (300, 1)


async def test_twenty_concurrent_creates_with_one_key_make_one_payment(api, key, record):
    idem = new_key()
    request = pb.CreatePaymentRequest(amount=777, currency="USD")
    results = await asyncio.gather(*[
        api.stub.CreatePayment(request, metadata=auth(key, idempotency_key=idem)) for _ in range(20)
    ], return_exceptions=True)
    ids = {r.payment.payment_id for r in results if not isinstance(r, BaseException)}
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, grpc.aio.AioRpcError) and f.code() == grpc.StatusCode.ABORTED
               and details(f)["ErrorInfo"].reason == "IDEMPOTENCY_KEY_IN_USE" for f in failures)
    assert len(ids) == 1
    merchant = api.app.settings.api_keys[key]
    created = await count_payments(api, merchant)
    assert created == 1
    record("idempotency race (one process, 20 concurrent creates, one key)",
           fired=20, payments=created, duplicates=created - 1, same_payment=20 - len(failures),
           retryable_aborted=len(failures))
