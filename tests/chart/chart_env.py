"""Where things are and which values sets the chart is checked with (shared by the chart tests)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "payment"
RELEASE = "payment"
NAMESPACE = "payment"
# The kind node's Kubernetes version (kind/cluster.yaml); helm built with `go
# install` would otherwise assume 1.20, which the chart's kubeVersion rejects.
KUBE_VERSION = "1.35.0"

# Every values combination the project ships, each rendered and checked.
VALUE_SETS: dict[str, list[str]] = {
    "default": [],
    "kind": ["kind/values.yaml"],
    "tilt": ["kind/values.yaml", "kind/values-tilt.yaml"],
    "kind-observability": ["kind/values.yaml", "kind/values-observability.yaml"],
    "real-node": ["kind/values.yaml", "kind/values-real-node.yaml"],
    **{
        path.name.removesuffix("-values.yaml"): [str(path.relative_to(REPO))]
        for path in sorted((CHART / "ci").glob("*-values.yaml"))
    },
}

# Stand-ins for observability/ files another change is adding; used ONLY in a
# temporary copy of the chart, and never when $CI is set.
PLACEHOLDERS = {
    "alerts.yaml": "groups:\n  - name: placeholder\n    rules:\n"
    "      - alert: Placeholder\n        expr: vector(0) > 1\n",
    "payment-dashboard.json": '{"title": "placeholder", "panels": []}\n',
}
