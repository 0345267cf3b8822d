# kube-router for the real node (devtools/realnode.py), as its NetworkPolicy controller only
# (--run-firewall; the bridge plugin stays the CNI and kube-proxy the Service proxy): the bridge
# plugin enforces no NetworkPolicy. Opt-in like its use (REAL_NETWORK_POLICY=1 make setup): the
# build takes minutes. From the Go module proxy (which serves v2.1.0 of its v2 module); it drives
# iptables and ipset (scripts/setup.d/30-containers.sh installs both).
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
if [ "${REAL_NETWORK_POLICY:-}" = 1 ]; then
  CGO_ENABLED=0 go_tool kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "$KUBE_ROUTER_VERSION"
fi
