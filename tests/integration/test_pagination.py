"""ListPayments: newest first, stable pages, filters, bad tokens."""

from __future__ import annotations

import grpc
import pytest

from service.gen.payment.v1 import payment_pb2 as pb

from .conftest import auth

pytestmark = pytest.mark.integration


async def create(api, key, **fields):
    request = pb.CreatePaymentRequest(**{"amount": 100, "currency": "USD", **fields})
    return (await api.stub.CreatePayment(request, metadata=auth(key))).payment


async def pages(api, key, **filters):
    seen, token = [], ""
    while True:
        page = await api.stub.ListPayments(pb.ListPaymentsRequest(page_size=3, page_token=token, **filters),
                                           metadata=auth(key))
        seen.extend(p.payment_id for p in page.payments)
        token = page.next_page_token
        if not token:
            return seen


async def test_pages_are_newest_first_without_duplicates_or_gaps_while_payments_arrive(api, key):
    old = [(await create(api, key)).payment_id for _ in range(8)]
    first = await api.stub.ListPayments(pb.ListPaymentsRequest(page_size=3), metadata=auth(key))
    newer = [(await create(api, key)).payment_id for _ in range(4)]  # arrive while paging
    seen, token = [p.payment_id for p in first.payments], first.next_page_token
    while token:
        page = await api.stub.ListPayments(pb.ListPaymentsRequest(page_size=3, page_token=token), metadata=auth(key))
        seen.extend(p.payment_id for p in page.payments)
        token = page.next_page_token
    assert seen == list(reversed(old))
    assert await pages(api, key) == list(reversed(old + newer))


async def test_filters_by_status_and_customer(api, key):
    a = await create(api, key, customer_id="cus_a")
    b = await create(api, key, customer_id="cus_b", capture_method=pb.AUTOMATIC)
    assert await pages(api, key, customer_id="cus_a") == [a.payment_id]
    assert await pages(api, key, status=pb.CAPTURED) == [b.payment_id]
    assert await pages(api, key, status=pb.CANCELED) == []


async def test_default_page_size_is_twenty(api, key):
    for _ in range(21):
        await create(api, key)
    page = await api.stub.ListPayments(pb.ListPaymentsRequest(), metadata=auth(key))
    assert len(page.payments) == 20 and page.next_page_token


@pytest.mark.parametrize("request_fields, field", [
    ({"page_size": 101}, "page_size"), ({"page_size": -1}, "page_size"),
    ({"page_token": "garbage"}, "page_token"), ({"page_token": "e30"}, "page_token"),
])
async def test_bad_paging_is_invalid_argument(api, key, request_fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.ListPayments(pb.ListPaymentsRequest(**request_fields), metadata=auth(key))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in raised.value.details()


async def test_a_token_is_bound_to_its_filters(api, key):
    for _ in range(4):
        await create(api, key, customer_id="cus_x")
    page = await api.stub.ListPayments(pb.ListPaymentsRequest(page_size=2, customer_id="cus_x"), metadata=auth(key))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.stub.ListPayments(pb.ListPaymentsRequest(page_size=2, page_token=page.next_page_token),
                                    metadata=auth(key))
    assert "different filters" in raised.value.details()
