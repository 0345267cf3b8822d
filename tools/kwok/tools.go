//go:build tools

// Package tools pins kwok, the simulated nodes (see go.mod; installed by scripts/setup.d/20-cluster-tools.sh).
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
