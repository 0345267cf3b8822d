"""Settings, read from the environment once, in one place.

Every variable is documented in `.env.example`. Nothing here has a secret for
a default: API keys and the webhook secret must be configured (the local demo
values live only in `.env.example`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .domain.errors import PaymentError
from .env_aliases import stripe_api_key

if TYPE_CHECKING:
    from .webhook_settings import WebhookSettings


class ConfigError(PaymentError):
    """The configuration is invalid; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def parse_api_keys(raw: str) -> dict[str, str]:
    """`key=merchant,key2=merchant2` -> {key: merchant}. Keys are never logged."""
    keys: dict[str, str] = {}
    for index, item in enumerate(filter(None, (part.strip() for part in raw.split(",")))):
        key, sep, merchant = item.partition("=")
        if not sep or not key.strip() or not merchant.strip():
            raise ConfigError(f"API_KEYS entry #{index + 1} must look like <api key>=<merchant id>")
        keys[key.strip()] = merchant.strip()
    return keys


def _webhook_settings(env: Mapping[str, str]) -> WebhookSettings:
    from .webhook_settings import WebhookSettings

    return WebhookSettings.from_env(env)


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = ""
    api_keys: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50051
    metrics_port: int = 9464
    redis_url: str = ""
    cache_ttl_seconds: int = 300
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = "payment-service"
    default_processor: str = "inhouse"
    stripe_api_key: str = dataclasses.field(default="", repr=False)
    stripe_api_base: str = ""
    stripe_webhook_secret: str = dataclasses.field(default="", repr=False)
    db_pool_size: int = 10
    shutdown_grace_seconds: float = 10.0
    idempotency_retention_hours: int = 24
    # How long a request owns its idempotency key; after a crash, a retry may take over then.
    idempotency_lease_seconds: int = 30
    log_level: str = "INFO"
    version: str = "0.1.0"
    # Outgoing webhooks and the event log (service/webhook_settings.py).
    webhooks: WebhookSettings = dataclasses.field(default_factory=lambda: _webhook_settings({}))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            api_keys=parse_api_keys(env.get("API_KEYS", "")),
            grpc_host=env.get("GRPC_HOST", "0.0.0.0"),
            grpc_port=_int(env, "GRPC_PORT", 50051),
            metrics_port=_int(env, "METRICS_PORT", 9464),
            redis_url=env.get("REDIS_URL", ""),
            cache_ttl_seconds=_int(env, "CACHE_TTL_SECONDS", 300),
            otel_exporter_otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            otel_service_name=env.get("OTEL_SERVICE_NAME", "") or "payment-service",
            default_processor=env.get("DEFAULT_PROCESSOR", "inhouse") or "inhouse",
            stripe_api_key=stripe_api_key(env),
            stripe_api_base=env.get("STRIPE_API_BASE", ""),
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", ""),
            db_pool_size=_int(env, "DB_POOL_SIZE", 10),
            shutdown_grace_seconds=float(_int(env, "SHUTDOWN_GRACE_SECONDS", 10)),
            idempotency_retention_hours=_int(env, "IDEMPOTENCY_RETENTION_HOURS", 24),
            idempotency_lease_seconds=_int(env, "IDEMPOTENCY_LEASE_SECONDS", 30),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            webhooks=_webhook_settings(env),
        )

    def require_database(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set (e.g. postgresql+asyncpg://user@localhost:5432/payments)")
        return self.database_url
