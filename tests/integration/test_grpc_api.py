"""The five RPCs on real PostgreSQL through an in-process gRPC server."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

from service.adapters.tables import payments
from service.gen.payment.v1 import payment_pb2 as pb

from .conftest import auth

pytestmark = pytest.mark.integration


def details(error: grpc.aio.AioRpcError) -> dict:
    """The google.rpc.Status details of a failed call, by type name."""
    status = rpc_status.from_call(error)
    found = {}
    for detail in status.details if status else []:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                found[cls.__name__] = message
    return found


async def count_payments(api, merchant: str) -> int:
    async with api.app.engine.connect() as connection:
        return (await connection.execute(select(func.count()).where(payments.c.merchant_id == merchant))).scalar()


async def create(api, key, **fields) -> pb.Payment:
    request = pb.CreatePaymentRequest(**{"amount": 1000, "currency": "USD", **fields})
    return (await api.stub.CreatePayment(request, metadata=auth(key))).payment


async def test_create_get_and_list(api, key):
    created = await create(api, key, amount=1050, currency="eur", metadata={"order": "42", "note": "ü ✓"},
                           customer_id="cus_1", description="two books")
    assert created.payment_id.startswith("pay_") and created.status == pb.REQUIRES_CAPTURE
    assert (created.amount, created.currency, created.processor) == (1050, "EUR", "inhouse")
    fetched = (await api.stub.GetPayment(pb.GetPaymentRequest(payment_id=created.payment_id),
                                         metadata=auth(key))).payment
    assert fetched == created
    assert dict(fetched.metadata) == {"order": "42", "note": "ü ✓"}
    listed = await api.stub.ListPayments(pb.ListPaymentsRequest(), metadata=auth(key))
    assert [p.payment_id for p in listed.payments] == [created.payment_id]


async def test_capture_refund_and_cancel(api, key):
    payment = await create(api, key)
    captured = (await api.stub.ProcessPayment(
        pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.CAPTURE), metadata=auth(key))).payment
    assert (captured.status, captured.amount_captured) == (pb.CAPTURED, 1000)
    refunded = (await api.stub.ProcessPayment(
        pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.REFUND, reason="customer asked"),
        metadata=auth(key))).payment
    assert (refunded.status, refunded.amount_refunded) == (pb.REFUNDED, 1000)
    assert [(r.amount, r.reason, r.status) for r in refunded.refunds] == [(1000, "customer asked",
                                                                          pb.REFUND_SUCCEEDED)]
    other = await create(api, key)
    canceled = (await api.stub.ProcessPayment(
        pb.ProcessPaymentRequest(payment_id=other.payment_id, action=pb.CANCEL), metadata=auth(key))).payment
    assert canceled.status == pb.CANCELED


async def test_illegal_steps_are_failed_precondition_with_a_reason(api, key):
    payment = await create(api, key)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=payment.payment_id, action=pb.REFUND),
                                      metadata=auth(key))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(raised.value)["ErrorInfo"].reason == "PAYMENT_NOT_REFUNDABLE"
    unchanged = (await api.stub.GetPayment(pb.GetPaymentRequest(payment_id=payment.payment_id),
                                           metadata=auth(key))).payment
    assert unchanged == payment


async def test_authentication(api, key):
    request = pb.ListPaymentsRequest()
    for metadata, message in [((), "missing authorization"), ((("authorization", "Bearer nope"),), "invalid API key"),
                              ((("authorization", "Basic abc"),), "Bearer")]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.stub.ListPayments(request, metadata=metadata)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert message in raised.value.details()
        assert "nope" not in raised.value.details()
    health = await api.stub.HealthCheck(pb.HealthCheckRequest())
    assert health.status == pb.HealthCheckResponse.SERVING


async def test_a_merchant_never_sees_another_merchants_payment(api, key):
    payment = await create(api, key)
    stranger = "sk_it_199"
    for call in (lambda: api.stub.GetPayment(pb.GetPaymentRequest(payment_id=payment.payment_id),
                                             metadata=auth(stranger)),
                 lambda: api.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=payment.payment_id,
                                                                          action=pb.CANCEL),
                                                 metadata=auth(stranger))):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call()
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await api.stub.ListPayments(pb.ListPaymentsRequest(), metadata=auth(stranger))
    assert payment.payment_id not in [p.payment_id for p in listed.payments]


BAD_CREATES = [
    ({"amount": 0}, "amount"),
    ({"amount": -1}, "amount"),
    ({"amount": 2**62}, "amount"),
    ({"currency": "ZZZ"}, "currency"),
    ({"currency": ""}, "currency"),
    ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
    ({"metadata": {"k" * 41: "v"}}, None),
    ({"metadata": {"k": "v" * 501}}, "metadata[k]"),
    ({"payment_method": "4111111111111111"}, "payment_method"),
    ({"capture_method": 7}, "capture_method"),
    ({"processor": "nope"}, "processor"),
    ({"description": "a\x00b"}, "description"),  # PostgreSQL cannot store NUL: must not become INTERNAL
    ({"customer_id": "c\x00"}, "customer_id"),
    ({"metadata": {"k": "v\x00"}}, "metadata[k]"),
]


@pytest.mark.parametrize("fields, field", BAD_CREATES)
async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(api, key, fields, field):
    merchant = api.app.settings.api_keys[key]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await create(api, key, **fields)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violation = details(raised.value)["BadRequest"].field_violations[0]
    assert violation.field.startswith(field or "metadata[")
    assert violation.field in raised.value.details()
    assert await count_payments(api, merchant) == 0


@pytest.mark.parametrize("payment_id", ["", "pay_1", "x" * 300, "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9!"])
async def test_malformed_ids_are_invalid_argument(api, key, payment_id):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.GetPayment(pb.GetPaymentRequest(payment_id=payment_id), metadata=auth(key))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "payment_id" in raised.value.details()


async def test_unknown_id_is_not_found(api, key):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.GetPayment(pb.GetPaymentRequest(payment_id="pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"),
                                  metadata=auth(key))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert details(raised.value)["ErrorInfo"].reason == "PAYMENT_NOT_FOUND"


async def test_two_authorization_values_on_the_direct_port_are_unauthenticated_not_last_wins(api, key):
    """Envoy joins two Authorization headers (and the joined value matches no key); a direct caller
    must not get the last one instead."""
    for pairs in ((("authorization", "Bearer sk_it_199"), ("authorization", f"Bearer {key}")),
                  (("authorization", f"Bearer {key}"), ("authorization", f"Bearer {key}"))):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.stub.ListPayments(pb.ListPaymentsRequest(), metadata=pairs)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "2 authorization metadata values" in raised.value.details() and key not in raised.value.details()
