# protoc-gen-openapiv2 (grpc-gateway v2.33.0), the buf plugin behind gateway/static/openapi.json
# (`make generate`). Pinned by the tools module in tools/openapiv2/ (go.mod + go.sum), built
# like grpcui's; re-installed only when that module changes.
openapiv2_stamp="$(cat tools/openapiv2/go.mod tools/openapiv2/go.sum | sha256sum | cut -d' ' -f1)"
if [ ! -x "$TOOLS_BIN/protoc-gen-openapiv2" ] \
   || [ "$(cat "$TOOLS_BIN/.protoc-gen-openapiv2.version" 2>/dev/null)" != "$openapiv2_stamp" ]; then
  log "go install protoc-gen-openapiv2 (tools/openapiv2/go.mod)"
  (cd tools/openapiv2 && GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod \
     go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2)
  rm -f "$TOOLS_BIN/.protoc-gen-openapiv2.version"  # a new file, never one hard-linked from another checkout
  echo "$openapiv2_stamp" > "$TOOLS_BIN/.protoc-gen-openapiv2.version"
fi
