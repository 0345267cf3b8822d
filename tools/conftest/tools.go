//go:build tools

// Package tools pins conftest (see go.mod; installed by scripts/setup.d/20-cluster-tools.sh).
package tools

import (
	_ "github.com/open-policy-agent/conftest"
)
