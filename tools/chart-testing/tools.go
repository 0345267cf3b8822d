//go:build tools

// Package tools pins chart-testing (ct) (see go.mod; installed by scripts/setup.d/20-cluster-tools.sh).
package tools

import (
	_ "github.com/helm/chart-testing/v3/ct"
)
