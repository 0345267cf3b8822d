//go:build tools

// Package tools pins protoc-gen-openapiv2 (grpc-gateway v2.33.0), the buf plugin that writes
// docs/openapi/payment.swagger.json from protos/ (`make generate`).
package tools

import _ "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2"
