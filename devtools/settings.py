"""DevSettings: what only the local stack reads (`make run`, the end-to-end tests), documented in `.env.example`.

The ports of the service and the gateway are theirs (service.config.Settings,
gateway.config.GraphQLSettings): the stack reads them through the same classes,
so each default is declared once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from common.env import flag, port_number, read, setting


@dataclasses.dataclass(frozen=True)
class DevSettings:
    postgres_port: int = setting("POSTGRES_PORT", 55432, parse=port_number)
    redis_port: int = setting("REDIS_PORT", 56379, parse=port_number)
    # Off: no cache (when REDIS_URL is empty the stack starts redis-server on REDIS_PORT).
    local_redis: bool = setting("LOCAL_REDIS", True, parse=flag)
    local_graphql: bool = setting("LOCAL_GRAPHQL", True, parse=flag)
    local_grpcui: bool = setting("LOCAL_GRPCUI", True, parse=flag)
    envoy_port: int = setting("ENVOY_PORT", 8080, parse=port_number)
    envoy_admin_port: int = setting("ENVOY_ADMIN_PORT", 9901, parse=port_number)
    envoy_stats_port: int = setting("ENVOY_STATS_PORT", 9902, parse=port_number)
    grpcui_port: int = setting("GRPCUI_PORT", 8081, parse=port_number)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DevSettings:
        return read(cls, env)
