//go:build tools

// Package tools pins grpcui for `go install github.com/fullstorydev/grpcui/cmd/grpcui`
// (the Go module proxy refuses `go install ...@v1.4.3` but serves the module).
package tools

import _ "github.com/fullstorydev/grpcui/cmd/grpcui"
