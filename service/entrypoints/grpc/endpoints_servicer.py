"""The webhook endpoint RPCs of EventService (mixed into EventServicer)."""

from __future__ import annotations

import grpc

from ...config import WebhookSettings
from ...gen.payment.v1 import events_pb2 as epb
from ...service_layer import webhook_endpoints as endpoints
from ...service_layer.dependencies import Dependencies
from .convert import _timestamp
from .servicer import rpc


def endpoint_to_pb(endpoint: endpoints.Endpoint) -> epb.WebhookEndpoint:
    message = epb.WebhookEndpoint(
        endpoint_id=endpoint.endpoint_id, url=endpoint.url, description=endpoint.description,
        enabled_event_types=endpoint.enabled_event_types, enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason, create_time=_timestamp(endpoint.created_at),
        update_time=_timestamp(endpoint.updated_at))
    if endpoint.previous_secret_expires_at is not None:
        message.previous_secret_expire_time.CopyFrom(_timestamp(endpoint.previous_secret_expires_at))
    return message


def _changes(request: epb.UpdateWebhookEndpointRequest) -> dict:
    given = request.endpoint
    return {path: (list(given.enabled_event_types) if path == "enabled_event_types" else getattr(given, path, None))
            for path in request.update_mask.paths}


class EndpointRpcs:
    deps: Dependencies
    webhooks: WebhookSettings

    def _merchant(self, context: grpc.aio.ServicerContext) -> str:
        raise NotImplementedError

    @rpc
    async def CreateWebhookEndpoint(self, request: epb.CreateWebhookEndpointRequest, context):
        endpoint, secret = await endpoints.create_endpoint(
            self._merchant(context), request.url, list(request.enabled_event_types), request.description,
            self.deps, self.webhooks)
        return epb.CreateWebhookEndpointResponse(endpoint=endpoint_to_pb(endpoint), secret=secret)

    @rpc
    async def GetWebhookEndpoint(self, request: epb.GetWebhookEndpointRequest, context):
        endpoint = await endpoints.get_endpoint(self._merchant(context), request.endpoint_id, self.deps)
        return epb.GetWebhookEndpointResponse(endpoint=endpoint_to_pb(endpoint))

    @rpc
    async def ListWebhookEndpoints(self, request: epb.ListWebhookEndpointsRequest, context):
        found = await endpoints.list_endpoints(self._merchant(context), self.deps)
        return epb.ListWebhookEndpointsResponse(endpoints=[endpoint_to_pb(e) for e in found])

    @rpc
    async def UpdateWebhookEndpoint(self, request: epb.UpdateWebhookEndpointRequest, context):
        merchant = self._merchant(context)
        endpoint = await endpoints.update_endpoint(merchant, request.endpoint_id, _changes(request), self.deps,
                                                   self.webhooks)
        return epb.UpdateWebhookEndpointResponse(endpoint=endpoint_to_pb(endpoint))

    @rpc
    async def DeleteWebhookEndpoint(self, request: epb.DeleteWebhookEndpointRequest, context):
        await endpoints.delete_endpoint(self._merchant(context), request.endpoint_id, self.deps)
        return epb.DeleteWebhookEndpointResponse()

    @rpc
    async def RotateWebhookEndpointSecret(self, request: epb.RotateWebhookEndpointSecretRequest, context):
        endpoint, secret = await endpoints.rotate_secret(self._merchant(context), request.endpoint_id,
                                                         request.overlap_seconds, self.deps)
        return epb.RotateWebhookEndpointSecretResponse(endpoint=endpoint_to_pb(endpoint), secret=secret)

    @rpc
    async def ListDeliveryAttempts(self, request: epb.ListDeliveryAttemptsRequest, context):
        page, token = await endpoints.list_attempts(self._merchant(context), request.endpoint_id, request.event_id,
                                                    request.page_size, request.page_token, self.deps)
        return epb.ListDeliveryAttemptsResponse(
            attempts=[epb.DeliveryAttempt(event_id=a.event_id, attempt_time=_timestamp(a.attempted_at),
                                          status_code=a.status_code, latency_ms=a.latency_ms, outcome=a.outcome,
                                          error=a.error) for a in page],
            next_page_token=token)

    @rpc
    async def RedeliverEvent(self, request: epb.RedeliverEventRequest, context):
        await endpoints.redeliver(self._merchant(context), request.endpoint_id, request.event_id, self.deps)
        return epb.RedeliverEventResponse()
