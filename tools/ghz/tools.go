//go:build tools

// Package tools pins ghz (the gRPC load generator `make bench` drives) for `go install`.
package tools

import _ "github.com/bojand/ghz/cmd/ghz"
