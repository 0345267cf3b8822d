//go:build tools

// Package tools pins controller-gen and the prometheus-operator API types it generates CRDs from (see go.mod; installed by scripts/setup.d/20-cluster-tools.sh).
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
