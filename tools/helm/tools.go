//go:build tools

// Package tools pins helm (see go.mod; installed by scripts/setup.d/20-cluster-tools.sh).
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
