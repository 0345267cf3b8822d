"""DevSettings: what only the local stack reads (`make run`, the end-to-end tests), documented in `.env.example`.

The ports of the service and the gateway are theirs (service.config.Settings,
gateway.config.GraphQLSettings): the stack reads them through the same classes,
so each default is declared once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from common.env import flag, port_number, positive, read, setting


@dataclasses.dataclass(frozen=True)
class DevSettings:
    postgres_port: int = setting("POSTGRES_PORT", 55432, parse=port_number)
    redis_port: int = setting("REDIS_PORT", 56379, parse=port_number)
    # Off: no cache (when REDIS_URL is empty the stack starts redis-server on REDIS_PORT).
    local_redis: bool = setting("LOCAL_REDIS", True, parse=flag)
    local_graphql: bool = setting("LOCAL_GRAPHQL", True, parse=flag)
    local_grpcui: bool = setting("LOCAL_GRPCUI", True, parse=flag)
    # the in-house processor's simulator (later events, signed webhooks) when INHOUSE_WEBHOOK_SECRET is set
    local_inhouse_simulator: bool = setting("LOCAL_INHOUSE_SIMULATOR", True, parse=flag)
    envoy_port: int = setting("ENVOY_PORT", 8080, parse=port_number)
    envoy_admin_port: int = setting("ENVOY_ADMIN_PORT", 9901, parse=port_number)
    envoy_stats_port: int = setting("ENVOY_STATS_PORT", 9902, parse=port_number)
    # The local Envoy's worker threads (--concurrency). One serves a local
    # stack's traffic and costs less CPU per request on a small machine than one per core.
    envoy_concurrency: int = setting("ENVOY_CONCURRENCY", 1, parse=positive)
    grpcui_port: int = setting("GRPCUI_PORT", 8081, parse=port_number)
    # HTTPS and gRPC over TLS, with the development certificate in .data/tls/.
    envoy_tls_port: int = setting("ENVOY_TLS_PORT", 8443, parse=port_number)
    # Envoy's rate limits per API key and route class, per second (the chart: envoy.rateLimits).
    rate_limit_mutations_per_second: int = setting("RATE_LIMIT_MUTATIONS_PER_SECOND", 100, parse=positive)
    rate_limit_reads_per_second: int = setting("RATE_LIMIT_READS_PER_SECOND", 300, parse=positive)
    rate_limit_webhooks_per_second: int = setting("RATE_LIMIT_WEBHOOKS_PER_SECOND", 100, parse=positive)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DevSettings:
        return read(cls, env)
