"""GraphQL view of the event log: `events(...)` (ListEvents) and `event(event_id)` (GetEvent).

The types mirror payment.v1.Event field for field; `payment` is the payment
as it was right after the change. Time filters are RFC 3339 strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from google.protobuf.timestamp_pb2 import Timestamp as PbTimestamp

from service.gen.payment.v1 import events_pb2 as epb

from .errors import invalid_argument
from .limits import check_page_size
from .types import Int64, Payment, Timestamp


@strawberry.type(description="One change of a payment or of one of its refunds (payment.v1.Event). Immutable.")
class Event:
    event_id: strawberry.ID = strawberry.field(description="Server-assigned id, `evt_` and 26 characters.")
    type: str = strawberry.field(description="What happened, noun.verb_past, e.g. payment.captured.")
    merchant_id: str = strawberry.field(description="The merchant the payment belongs to.")
    payment_id: strawberry.ID = strawberry.field(description="The payment that changed.")
    refund_id: str = strawberry.field(description="The refund that changed (refund.* events), or empty.")
    dispute_id: str = strawberry.field(description="The dispute that changed (dispute.* events), or empty.")
    sequence: Int64 = strawberry.field(description="The payment's version after this event: 1, 2, 3... no gap.")
    payment: Payment = strawberry.field(description="The payment right after the change.")
    actor: str = strawberry.field(description="Who caused it: api_key:<key id>, processor:<name> event <id>, "
                                              "reconcile or system.")
    request_id: str = strawberry.field(description="The request id of the call that caused it, or empty.")
    create_time: Timestamp = strawberry.field(description="When the change was written.")

    @classmethod
    def from_pb(cls, event: epb.Event) -> Event:
        return cls(event_id=strawberry.ID(event.event_id), type=event.type, merchant_id=event.merchant_id,
                   payment_id=strawberry.ID(event.payment_id), refund_id=event.refund_id,
                   dispute_id=event.dispute_id, sequence=Int64(event.sequence), payment=Payment.from_pb(event.payment),
                   actor=event.actor, request_id=event.request_id,
                   create_time=Timestamp(event.create_time.ToJsonString()))


@strawberry.type(description="One page of events, newest first (ListEventsResponse).")
class EventPage:
    events: list[Event]
    next_page_token: str = strawberry.field(
        description="Pass as page_token for the next page; empty on the last page.")


def _instant(field: str, value: str | None) -> PbTimestamp | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument(field, "must be an RFC 3339 time, e.g. 2025-01-02T03:04:05Z") from None
    if parsed.tzinfo is None:
        raise invalid_argument(field, "must include a time zone (Z or +hh:mm)")
    stamp = PbTimestamp()
    stamp.FromDatetime(parsed)
    return stamp


async def event(info: strawberry.Info, event_id: strawberry.ID) -> Event | None:
    found = await info.context.client.get_event(epb.GetEventRequest(event_id=event_id), info.context.metadata)
    return Event.from_pb(found)


async def events(
    info: strawberry.Info,
    page_size: Annotated[int | None, strawberry.argument(description="1 to 100; 20 when absent.")] = None,
    page_token: Annotated[str | None, strawberry.argument(description="The previous page's next_page_token.")] = None,
    payment_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this payment's.")] = None,
    type: Annotated[str | None, strawberry.argument(description="Only this type, e.g. payment.captured.")] = None,
    created_after: Annotated[str | None, strawberry.argument(
        description="RFC 3339: only events created at or after it.")] = None,
    created_before: Annotated[str | None, strawberry.argument(
        description="RFC 3339: only events created before it.")] = None,
) -> EventPage | None:
    request = epb.ListEventsRequest(page_size=check_page_size(page_size), page_token=page_token or "",
                                    payment_id=payment_id or "", type=type or "")
    for field, value in (("created_after", created_after), ("created_before", created_before)):
        stamp = _instant(field, value)
        if stamp is not None:
            getattr(request, field).CopyFrom(stamp)
    page = await info.context.client.list_events(request, info.context.metadata)
    return EventPage(events=[Event.from_pb(e) for e in page.events], next_page_token=page.next_page_token)
