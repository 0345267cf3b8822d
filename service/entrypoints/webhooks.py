"""WebhookService: `POST /webhooks/stripe` and `POST /webhooks/inhouse` arrive here through Envoy
as raw HttpBody; each processor's own signature is verified, then one shared path applies the event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..adapters.processors import inhouse_events, stripe_events
from ..config import ConfigError
from ..domain.errors import InvalidArgument
from ..gen.payment.v1 import webhook_pb2, webhook_pb2_grpc
from ..service_layer.webhooks import ProcessorEvent, apply_event
from .grpc.servicer import metadata_of, rpc

_METRIC_OUTCOME = {"applied": "processed", "unchanged": "processed", "duplicate": "duplicate",
                   "ignored": "ignored", "unknown_payment": "ignored"}


def _count(event_type: str, outcome: str) -> None:
    try:
        from ..observability.metrics import record_webhook_event
    except ImportError:
        return
    record_webhook_event(event_type, outcome)


class WebhookServicer(webhook_pb2_grpc.WebhookServiceServicer):
    def __init__(self, app) -> None:
        self.deps = app.deps
        self.secret = app.settings.stripe_webhook_secret
        self.inhouse_secret = app.settings.inhouse_webhook_secret

    @rpc
    async def HandleStripeWebhook(self, request: webhook_pb2.HandleStripeWebhookRequest, context):
        if not self.secret:
            raise ConfigError("STRIPE_WEBHOOK_SECRET is not configured; Stripe webhooks are refused")
        await self._handle(request.body.data, metadata_of(context).get("stripe-signature", ""), self.secret,
                           stripe_events.verify, stripe_events.to_processor_event, "stripe-signature")
        return webhook_pb2.HandleStripeWebhookResponse(received=True)

    @rpc
    async def HandleInhouseWebhook(self, request: webhook_pb2.HandleInhouseWebhookRequest, context):
        if not self.inhouse_secret:
            raise ConfigError("INHOUSE_WEBHOOK_SECRET is not configured; in-house webhooks are refused")
        header = inhouse_events.SIGNATURE_HEADER
        await self._handle(request.body.data, metadata_of(context).get(header, ""), self.inhouse_secret,
                           inhouse_events.verify, inhouse_events.to_processor_event, header)
        return webhook_pb2.HandleInhouseWebhookResponse(received=True)

    async def _handle(self, body: bytes, signature: str, secret: str,
                      verify: Callable[[bytes, str, str], dict[str, Any]],
                      convert: Callable[[Mapping[str, Any]], ProcessorEvent], signature_field: str) -> None:
        try:
            event = verify(body, signature, secret)
        except InvalidArgument as exc:
            _count("unverified", "signature_invalid" if exc.field == signature_field else "malformed")
            raise
        try:
            processor_event = convert(event)
        except InvalidArgument:
            _count(event["type"], "malformed")
            raise
        outcome = await apply_event(processor_event, self.deps)
        _count(event["type"], _METRIC_OUTCOME[outcome])
