"""The gRPC API: PaymentService, WebhookService, health and reflection."""
