//go:build tools

// Package tools pins etcd, the control plane's store (see go.mod; installed by scripts/setup.d/20-cluster-tools.sh).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
