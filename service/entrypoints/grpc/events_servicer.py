"""EventService: the event log (get, list, watch) over gRPC, REST (Envoy) and GraphQL (via gRPC).

Webhook endpoint management lives in service.entrypoints.grpc.endpoints_servicer
and is mixed in here, so one servicer serves the whole EventService.
"""

from __future__ import annotations

from datetime import UTC

import grpc

from ...config import WebhookSettings
from ...domain.snapshot import from_snapshot
from ...gen.payment.v1 import events_pb2 as epb
from ...gen.payment.v1 import events_pb2_grpc
from ...service_layer import events as event_queries
from ...service_layer.api_keys import KeyRing
from ...service_layer.dependencies import Dependencies
from ...service_layer.events import EventFilter, Heartbeat, ListEvents, StoredEvent
from .convert import _timestamp, payment_to_pb
from .endpoints_servicer import EndpointRpcs
from .servicer import authenticate, rpc


def event_to_pb(event: StoredEvent) -> epb.Event:
    return epb.Event(
        event_id=event.event_id, type=event.type, merchant_id=event.merchant_id, payment_id=event.payment_id,
        refund_id=event.refund_id, dispute_id=event.dispute_id, sequence=event.sequence,
        payment=payment_to_pb(from_snapshot(event.data)), actor=event.actor, request_id=event.request_id,
        create_time=_timestamp(event.created_at),
    )


def _time(message, field: str):
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None


def list_query(request: epb.ListEventsRequest, merchant_id: str) -> ListEvents:
    filters = EventFilter(payment_id=request.payment_id, type=request.type,
                          created_after=_time(request, "created_after"),
                          created_before=_time(request, "created_before"))
    return ListEvents(merchant_id, filters, request.page_size, request.page_token)


class EventServicer(EndpointRpcs, events_pb2_grpc.EventServiceServicer):
    def __init__(self, deps: Dependencies, keys: KeyRing, webhooks: WebhookSettings, *,
                 poll_seconds: float = 0.2, heartbeat_seconds: float = 15.0) -> None:
        self.deps = deps
        self.keys = keys
        self.webhooks = webhooks
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds

    def _merchant(self, context: grpc.aio.ServicerContext) -> str:
        return authenticate(self.keys, context)

    @rpc
    async def GetEvent(self, request: epb.GetEventRequest, context) -> epb.GetEventResponse:
        event = await event_queries.get_event(self._merchant(context), request.event_id, self.deps)
        return epb.GetEventResponse(event=event_to_pb(event))

    @rpc
    async def ListEvents(self, request: epb.ListEventsRequest, context) -> epb.ListEventsResponse:
        page, token = await event_queries.list_events(list_query(request, self._merchant(context)), self.deps)
        return epb.ListEventsResponse(events=[event_to_pb(e) for e in page], next_page_token=token)

    @rpc
    async def WatchEvents(self, request: epb.WatchEventsRequest, context) -> None:
        merchant = self._merchant(context)
        stream = event_queries.watch_events(merchant, request.after, self.deps, poll_seconds=self.poll_seconds,
                                            heartbeat_seconds=self.heartbeat_seconds)
        async for item in stream:
            if isinstance(item, Heartbeat):
                await context.write(epb.WatchEventsResponse(heartbeat=True))
            else:
                await context.write(epb.WatchEventsResponse(event=event_to_pb(item)))
