"""Render envoy/envoy.yaml: fill its placeholders (the chart does the same with helm)."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

LOCAL_DEFAULTS = {
    "ENVOY_PORT": "8080",
    "ENVOY_ADMIN_PORT": "9901",
    "ENVOY_STATS_PORT": "9902",
    "PAYMENT_GRPC_HOST": "127.0.0.1",
    "PAYMENT_GRPC_PORT": "50051",
    "GRAPHQL_HOST": "127.0.0.1",
    "GRAPHQL_PORT": "8000",
    "MAX_REQUEST_BYTES": "1048576",
    "EDGE_VALIDATOR_PORT": "50052",
}


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


def render_local(target: pathlib.Path, overrides: Mapping[str, str]) -> pathlib.Path:
    """envoy/envoy.yaml for this checkout: local defaults, the repo's descriptor, then ``overrides``."""
    root = pathlib.Path(__file__).resolve().parents[1]
    values = {**LOCAL_DEFAULTS, "DESCRIPTOR_PATH": str(root / "envoy" / "payment.pb"), **overrides}
    return render_file(root / "envoy" / "envoy.yaml", target, values)
