"""Developer tooling that is not part of the runtime image (the local stack, Envoy's local config, the
local Kubernetes cluster, ...).

Nothing under service/ or gateway/ imports this package, and the wheel and the
image leave it out (tests/chart/test_dockerfile.py checks both). Run it from a
checkout: `make run` is `python -m devtools run`.
"""
