// Command coredns is CoreDNS with only the plugins the real node needs: cluster DNS from the
// Kubernetes API (kubernetes), bound to the node bridge's address (bind), with a cache. No
// forward plugin: names outside the cluster are never resolved, so no query leaves the machine.
// A custom plugin list is CoreDNS's documented way to build it (dnsserver.Directives + coremain).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
)

func init() {
	// Order matters: the same relative order as CoreDNS's plugin.cfg.
	dnsserver.Directives = []string{"bind", "errors", "log", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
