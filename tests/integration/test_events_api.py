"""The events API over gRPC on real PostgreSQL: get, list with filters and
pages, and WatchEvents under concurrent writers on two server processes."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from service.gen.payment.v1 import events_pb2 as epb
from service.gen.payment.v1 import events_pb2_grpc
from service.gen.payment.v1 import payment_pb2 as pb

from .conftest import auth

pytestmark = pytest.mark.integration


def events_stub(channel) -> events_pb2_grpc.EventServiceStub:
    return events_pb2_grpc.EventServiceStub(channel)


async def all_events(stub, key: str, **filters) -> list[epb.Event]:
    """Every page of ListEvents, newest first (bounded)."""
    found, token = [], ""
    for _ in range(1000):
        page = await stub.ListEvents(epb.ListEventsRequest(page_size=7, page_token=token, **filters),
                                     metadata=auth(key))
        found.extend(page.events)
        token = page.next_page_token
        if not token:
            return found
    raise AssertionError("ListEvents never ended")


async def pay(stub, key: str, *, refund: bool = True) -> str:
    created = (await stub.CreatePayment(pb.CreatePaymentRequest(amount=1000, currency="USD"),
                                        metadata=auth(key))).payment
    await stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.CAPTURE),
                              metadata=auth(key))
    if refund:
        await stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.REFUND,
                                                           amount=300), metadata=auth(key))
    return created.payment_id


async def test_get_and_list_with_filters_and_pages(api, key):
    stub = events_stub(api.channel)
    first = await pay(api.stub, key)
    second = await pay(api.stub, key, refund=False)
    listed = await all_events(stub, key)
    assert len(listed) == 7 + 4 and len({e.event_id for e in listed}) == len(listed)
    assert [e.payment_id for e in listed[:4]] == [second] * 4  # newest first
    one = await all_events(stub, key, payment_id=first)
    assert [e.sequence for e in one] == [7, 6, 5, 4, 3, 2, 1]
    assert one[0].type == "payment.partially_refunded" and one[0].payment.amount_refunded == 300
    captured = await all_events(stub, key, type="payment.captured")
    assert {e.payment_id for e in captured} == {first, second} and len(captured) == 2
    got = (await stub.GetEvent(epb.GetEventRequest(event_id=one[-1].event_id), metadata=auth(key))).event
    assert got == one[-1] and got.payment.status == pb.PROCESSING and got.actor.startswith("api_key:")

    later = Timestamp()
    later.FromDatetime(one[0].create_time.ToDatetime())
    before = await all_events(stub, key, created_before=later)
    assert one[0].event_id not in {e.event_id for e in before} and len(before) < len(listed)


@pytest.mark.parametrize("request_fields, field", [
    ({"type": "payment.exploded"}, "type"),
    ({"payment_id": "nope"}, "payment_id"),
    ({"page_size": 101}, "page_size"),
    ({"page_token": "garbage"}, "page_token"),
])
async def test_bad_list_filters_are_invalid_argument_naming_the_field(api, key, request_fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events_stub(api.channel).ListEvents(epb.ListEventsRequest(**request_fields), metadata=auth(key))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in caught.value.details()


async def test_another_merchants_event_is_not_found_and_a_bad_id_is_invalid(api, key):
    from .conftest import API_KEYS

    other = next(k for k in API_KEYS if k != key)
    stub = events_stub(api.channel)
    await pay(api.stub, key, refund=False)
    mine = (await all_events(stub, key))[0]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetEvent(epb.GetEventRequest(event_id=mine.event_id), metadata=auth(other))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in ("evt_nope", "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K", ""):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetEvent(epb.GetEventRequest(event_id=bad), metadata=auth(key))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchEvents(epb.WatchEventsRequest(after=mine.event_id), metadata=auth(other)):
            pass
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListEvents(epb.ListEventsRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def watch(stub, key: str, after: str, want: int, *, stop_after: int | None = None) -> list[epb.Event]:
    """Events from the stream until ``want`` arrived (or ``stop_after``, then disconnect)."""
    seen: list[epb.Event] = []
    call = stub.WatchEvents(epb.WatchEventsRequest(after=after), metadata=auth(key))
    try:
        async for message in call:
            if message.HasField("event"):
                seen.append(message.event)
            if len(seen) >= min(stop_after or want, want):
                break
    finally:
        call.cancel()
    return seen


async def test_watch_under_concurrent_writers_on_two_processes_equals_the_list(server_processes, key, record):
    one, two = server_processes(2)
    streams = [events_stub(one.channel), events_stub(two.channel)]
    payments, writers = 30, 6
    want = payments * 7

    async def write(worker: int) -> None:
        for i in range(payments // writers):
            await pay((one.stub, two.stub)[(worker + i) % 2], key)

    async def resumable() -> list[epb.Event]:
        """Disconnects at random points and resumes from the last event seen, alternating processes."""
        seen: list[epb.Event] = []
        cursor, turn = "now", 0
        for _ in range(500):
            if len(seen) >= want:
                return seen
            chunk = await watch(streams[turn % 2], key, cursor, want - len(seen),
                                stop_after=random.randint(1, 25))
            seen.extend(chunk)
            cursor = seen[-1].event_id if seen else cursor
            turn += 1
        raise AssertionError("the resumable watcher never caught up")

    straight = asyncio.create_task(watch(streams[0], key, "now", want))
    resumed = asyncio.create_task(resumable())
    await asyncio.sleep(1.0)  # both watchers are past "now" before the first write
    await asyncio.wait_for(asyncio.gather(*[write(w) for w in range(writers)]), 120)
    straight_seen, resumed_seen = await asyncio.wait_for(asyncio.gather(straight, resumed), 120)

    listed = list(reversed(await all_events(streams[1], key)))
    ids = [e.event_id for e in listed]
    assert len(ids) == want
    duplicates = len(straight_seen) - len({e.event_id for e in straight_seen})
    by_payment: dict[str, list[int]] = {}
    for event in straight_seen:
        by_payment.setdefault(event.payment_id, []).append(event.sequence)
    gaps_or_disorder = sum(1 for seqs in by_payment.values() if seqs != list(range(1, len(seqs) + 1)))
    record("WatchEvents, 2 server processes, 6 concurrent writers", events=want,
           stream_equals_list=[e.event_id for e in straight_seen] == ids,
           resumed_equals_list=[e.event_id for e in resumed_seen] == ids,
           duplicates=duplicates, payments_with_gap_or_disorder=gaps_or_disorder)
    assert [e.event_id for e in straight_seen] == ids
    assert [e.event_id for e in resumed_seen] == ids
    assert duplicates == 0 and gaps_or_disorder == 0


async def test_an_event_committed_late_with_a_lower_id_is_not_skipped(api, key):
    """The classic pitfall: ids are drawn at insert, commits happen in another order."""
    from service.adapters.repository import SqlUnitOfWork

    from .conftest import API_KEYS

    stub = events_stub(api.channel)
    early, late = await pay(api.stub, key, refund=False), await pay(api.stub, key, refund=False)
    watcher = asyncio.create_task(watch(stub, key, "now", 4))
    await asyncio.sleep(0.5)
    slow = SqlUnitOfWork(api.app.engine)
    async with slow:  # inserts its event first (lower id) but commits last
        payment = await slow.payments.get(API_KEYS[key], early, for_update=True)
        payment.begin_refund("re_01JD8X3Q6J8W7Z0V5Y4T2R1S9A", 100)
        await slow.payments.save(payment)
        await slow.journal.flush()
        await api.stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=late, action=pb.REFUND, amount=100),
                                      metadata=auth(key))  # commits while the slow one is open
        await asyncio.sleep(0.5)  # the sequencer runs (several times) meanwhile
        await slow.commit()
    seen = await asyncio.wait_for(watcher, 30)
    assert [(e.payment_id, e.type) for e in seen] == [
        (late, "refund.created"), (late, "refund.succeeded"), (late, "payment.partially_refunded"),
        (early, "refund.created")]
    listed = await all_events(stub, key)
    assert [e.event_id for e in listed[:4]] == [e.event_id for e in reversed(seen)]
