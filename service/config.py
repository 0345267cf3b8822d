"""Settings, read from the environment once, in one place.

Every variable is documented in `.env.example`; each default is declared once,
in its field (common/env.py reads them). Nothing here has a secret for a
default: API keys and the webhook secret must be configured (the local demo
values live only in `.env.example`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping

from common import env as environment
from common.env import setting

from .domain.errors import PaymentError


class ConfigError(PaymentError):
    """The configuration is invalid; the message names the variable."""


def parse_api_keys(raw: str) -> dict[str, str]:
    """`key=merchant,key2=merchant2` -> {key: merchant}. Keys are never logged."""
    keys: dict[str, str] = {}
    for index, item in enumerate(filter(None, (part.strip() for part in raw.split(",")))):
        key, sep, merchant = item.partition("=")
        if not sep or not key.strip() or not merchant.strip():
            raise ValueError(f"entry #{index + 1} must look like <api key>=<merchant id>")
        keys[key.strip()] = merchant.strip()
    return keys


def parse_networks(raw: str) -> tuple:
    """Comma-separated CIDRs."""
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"must be CIDRs separated by commas ({exc})") from None


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    # Local development only: allow http:// and https:// URLs that resolve to loopback.
    allow_loopback: bool = setting("WEBHOOK_ALLOW_LOOPBACK", False)
    # Private / link-local networks that endpoints may nevertheless point at (SSRF opt-in).
    allowed_networks: tuple = setting("WEBHOOK_ALLOWED_NETWORKS", (), parse=parse_networks)
    timeout_seconds: float = setting("WEBHOOK_TIMEOUT_SECONDS", 10.0)
    # Retries stop (the delivery is given up) this long after the event.
    retry_hours: float = setting("WEBHOOK_RETRY_HOURS", 72.0)
    backoff_base_seconds: float = setting("WEBHOOK_BACKOFF_BASE_SECONDS", 10.0)
    backoff_max_seconds: float = setting("WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0)
    concurrency: int = setting("DELIVER_CONCURRENCY", 8)
    metrics_port: int = setting("DELIVER_METRICS_PORT", 9466)
    event_retention_days: float = setting("EVENT_RETENTION_DAYS", 30.0)

    @property
    def retry_window_seconds(self) -> float:
        return self.retry_hours * 3600


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = setting("DATABASE_URL", "")
    api_keys: Mapping[str, str] = setting("API_KEYS", {}, parse=parse_api_keys, secret=True)
    # Managed keys (`payment-service keys`): each server reloads them on PostgreSQL NOTIFY and at
    # least this often; `keys rotate` keeps the old key valid this long unless --overlap-hours says.
    api_keys_refresh_seconds: float = setting("API_KEYS_REFRESH_SECONDS", 5.0)
    api_key_rotation_overlap_hours: float = setting("API_KEY_ROTATION_OVERLAP_HOURS", 24.0)
    # Where gRPC and /metrics listen (`make run`: 127.0.0.1; a pod: 0.0.0.0, behind NetworkPolicies).
    grpc_host: str = setting("GRPC_HOST", "0.0.0.0")
    grpc_port: int = setting("GRPC_PORT", 50051)
    metrics_port: int = setting("METRICS_PORT", 9464)
    redis_url: str = setting("REDIS_URL", "")
    cache_ttl_seconds: int = setting("CACHE_TTL_SECONDS", 300)
    otel_exporter_otlp_endpoint: str = setting("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    otel_service_name: str = setting("OTEL_SERVICE_NAME", "payment-service")
    default_processor: str = setting("DEFAULT_PROCESSOR", "inhouse")
    # STRIPE_SECRET_KEY is the seed's name for it. Both set to different values is an error rather
    # than a silent choice: picking the wrong Stripe account is not something to find out from a charge.
    stripe_api_key: str = setting("STRIPE_API_KEY", "", secret=True, aliases=("STRIPE_SECRET_KEY",))
    stripe_api_base: str = setting("STRIPE_API_BASE", "")
    stripe_webhook_secret: str = setting("STRIPE_WEBHOOK_SECRET", "", secret=True)
    db_pool_size: int = setting("DB_POOL_SIZE", 10)
    # `serve`: server processes sharing GRPC_PORT (SO_REUSEPORT) under one supervisor; 0: one per
    # CPU this process may use (docs/performance.md says when to raise it in a cluster).
    workers: int = setting("WORKERS", 0)
    shutdown_grace_seconds: float = setting("SHUTDOWN_GRACE_SECONDS", 10.0)
    idempotency_retention_hours: int = setting("IDEMPOTENCY_RETENTION_HOURS", 24)
    # The in-house processor: how long it declares it keeps idempotency keys (reconciliation
    # re-sends a call with no trace only while it is younger), and its webhooks (secret, target).
    inhouse_idempotency_retention_seconds: int = setting("INHOUSE_IDEMPOTENCY_RETENTION_SECONDS", 86400)
    inhouse_webhook_secret: str = setting("INHOUSE_WEBHOOK_SECRET", "", secret=True)
    inhouse_webhook_url: str = setting("INHOUSE_WEBHOOK_URL", "")
    # How long a request owns its idempotency key; after a crash, a retry may take over then.
    idempotency_lease_seconds: int = setting("IDEMPOTENCY_LEASE_SECONDS", 30)
    log_level: str = setting("LOG_LEVEL", "INFO", parse=str.upper)
    # `payment-service edge-validator`: Envoy's REST body validator (loopback locally, a sidecar in the chart).
    edge_validator_host: str = setting("EDGE_VALIDATOR_HOST", "127.0.0.1")
    edge_validator_port: int = setting("EDGE_VALIDATOR_PORT", 50052)
    # The largest body it takes (413 above): at least Envoy's MAX_REQUEST_BYTES (chart: envoy.maxRequestBytes).
    edge_validator_max_body_bytes: int = setting("EDGE_VALIDATOR_MAX_BODY_BYTES", 1048576)
    # The descriptor set the validator reads its rules from (empty: the checkout's envoy/payment.pb).
    edge_descriptor_path: str = setting("EDGE_DESCRIPTOR_PATH", "")
    version: str = "0.1.0"
    # Outgoing webhooks and the event log (WebhookSettings above: WEBHOOK_*, DELIVER_*, EVENT_*).
    webhooks: WebhookSettings = dataclasses.field(default_factory=WebhookSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        try:
            return dataclasses.replace(environment.read(cls, env), webhooks=environment.read(WebhookSettings, env))
        except environment.ConfigError as exc:
            raise ConfigError(str(exc)) from None

    def require_database(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set (e.g. postgresql+asyncpg://user@localhost:5432/payments)")
        return self.database_url
