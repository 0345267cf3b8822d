# grpcui (a web UI over gRPC reflection), pinned by the tools module in tools/grpcui/.
# The Go module proxy refuses `go install github.com/fullstorydev/grpcui/cmd/grpcui@v1.4.3`
# (its version list is refused) but serves the module itself, so the version lives in
# tools/grpcui/go.mod (+ go.sum) and `go install` builds the command from that module.
# Re-installed only when go.mod or go.sum change. Container builds reuse the same module:
#   cd tools/grpcui && go install github.com/fullstorydev/grpcui/cmd/grpcui
grpcui_stamp="$(cat tools/grpcui/go.mod tools/grpcui/go.sum | sha256sum | cut -d' ' -f1)"
if [ ! -x "$TOOLS_BIN/grpcui" ] || [ "$(cat "$TOOLS_BIN/.grpcui.version" 2>/dev/null)" != "$grpcui_stamp" ]; then
  log "go install grpcui (tools/grpcui/go.mod)"
  (cd tools/grpcui && GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod go install github.com/fullstorydev/grpcui/cmd/grpcui)
  echo "$grpcui_stamp" > "$TOOLS_BIN/.grpcui.version"
fi
