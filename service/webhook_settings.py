"""Settings of outgoing webhooks and of the event log (documented in .env.example)."""

from __future__ import annotations

import dataclasses
import ipaddress

from common.env import setting


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
