"""Settings of outgoing webhooks and of the event log (documented in .env.example)."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping

from .config import ConfigError


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"WEBHOOK_ALLOWED_NETWORKS must be CIDRs separated by commas: {exc}") from None


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    # Local development only: allow http:// and https:// URLs that resolve to loopback.
    allow_loopback: bool = False
    # Private / link-local networks that endpoints may nevertheless point at (SSRF opt-in).
    allowed_networks: tuple = ()
    timeout_seconds: float = 10.0
    # Retries stop (the delivery is given up) this long after the event.
    retry_window_seconds: float = 3 * 24 * 3600.0
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 3600.0
    concurrency: int = 8
    metrics_port: int = 9466
    event_retention_days: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        return cls(
            allow_loopback=env.get("WEBHOOK_ALLOW_LOOPBACK", "").lower() in ("1", "true", "yes"),
            allowed_networks=_networks(env.get("WEBHOOK_ALLOWED_NETWORKS", "")),
            timeout_seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
            retry_window_seconds=_float(env, "WEBHOOK_RETRY_HOURS", 72.0) * 3600,
            backoff_base_seconds=_float(env, "WEBHOOK_BACKOFF_BASE_SECONDS", 10.0),
            backoff_max_seconds=_float(env, "WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0),
            concurrency=int(_float(env, "DELIVER_CONCURRENCY", 8)),
            metrics_port=int(_float(env, "DELIVER_METRICS_PORT", 9466)),
            event_retention_days=_float(env, "EVENT_RETENTION_DAYS", 30.0),
        )
