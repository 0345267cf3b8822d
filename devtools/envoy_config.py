"""Render envoy/envoy.yaml: fill its placeholders (the chart does the same with helm)."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping

from gateway.config import GraphQLSettings
from service.config import Settings

from .settings import DevSettings

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENVOY_TEMPLATE = ROOT / "envoy" / "envoy.yaml"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
MAX_REQUEST_BYTES = 1024 * 1024
# The development CA and certificate for the TLS port (make setup: scripts/setup.d/40-dev-tls.sh).
DEV_TLS = ROOT / ".data" / "tls"


def render(template: str, values: Mapping[str, str]) -> str:
    """Substitute every ${NAME}; a name without a value is an error, not a blank."""
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(template)} - set(values))
    if missing:
        raise KeyError("no value for Envoy placeholders: " + ", ".join(missing))
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def render_file(source: pathlib.Path, target: pathlib.Path, values: Mapping[str, str]) -> pathlib.Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(source.read_text(), values))
    return target


def local_values(env: Mapping[str, str]) -> dict[str, str]:
    """The placeholders for this checkout's stack, from the settings its processes read from `env`."""
    dev, service, gateway = DevSettings.from_env(env), Settings.from_env(env), GraphQLSettings.from_env(env)
    values = {"ENVOY_PORT": dev.envoy_port, "ENVOY_ADMIN_PORT": dev.envoy_admin_port,
              "ENVOY_STATS_PORT": dev.envoy_stats_port, "PAYMENT_GRPC_HOST": "127.0.0.1",
              "PAYMENT_GRPC_PORT": service.grpc_port, "GRAPHQL_HOST": "127.0.0.1", "GRAPHQL_PORT": gateway.port,
              "MAX_REQUEST_BYTES": MAX_REQUEST_BYTES, "DESCRIPTOR_PATH": ROOT / "envoy" / "payment.pb",
              "EDGE_VALIDATOR_PORT": service.edge_validator_port,
              "ENVOY_TLS_PORT": dev.envoy_tls_port, "ENVOY_PLAINTEXT_ADDRESS": "0.0.0.0",
              "TLS_CERT_PATH": DEV_TLS / "server.crt", "TLS_KEY_PATH": DEV_TLS / "server.key",
              "RATE_LIMIT_MUTATIONS_PER_SECOND": dev.rate_limit_mutations_per_second,
              "RATE_LIMIT_READS_PER_SECOND": dev.rate_limit_reads_per_second,
              "RATE_LIMIT_WEBHOOKS_PER_SECOND": dev.rate_limit_webhooks_per_second}
    return {name: str(value) for name, value in values.items()}


def render_local(target: pathlib.Path, env: Mapping[str, str]) -> pathlib.Path:
    """envoy/envoy.yaml for this checkout, with the ports `env` sets (the defaults otherwise)."""
    return render_file(ENVOY_TEMPLATE, target, local_values(env))
