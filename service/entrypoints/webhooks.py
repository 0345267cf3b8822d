"""WebhookService: `POST /webhooks/stripe` arrives here through Envoy as a raw HttpBody."""

from __future__ import annotations

from ..adapters.processors.stripe_events import to_processor_event, verify
from ..config import ConfigError
from ..domain.errors import InvalidArgument
from ..gen.payment.v1 import webhook_pb2, webhook_pb2_grpc
from ..service_layer.webhooks import apply_event
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

    @rpc
    async def HandleStripeWebhook(self, request: webhook_pb2.HandleStripeWebhookRequest, context):
        if not self.secret:
            raise ConfigError("STRIPE_WEBHOOK_SECRET is not configured; Stripe webhooks are refused")
        signature = metadata_of(context).get("stripe-signature", "")
        try:
            event = verify(request.body.data, signature, self.secret)
        except InvalidArgument as exc:
            _count("unverified", "signature_invalid" if exc.field == "stripe-signature" else "malformed")
            raise
        try:
            processor_event = to_processor_event(event)
        except InvalidArgument:
            _count(event["type"], "malformed")
            raise
        outcome = await apply_event(processor_event, self.deps)
        _count(event["type"], _METRIC_OUTCOME[outcome])
        return webhook_pb2.HandleStripeWebhookResponse(received=True)
