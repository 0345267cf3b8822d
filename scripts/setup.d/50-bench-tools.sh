# `make bench`'s load generators and limit meters (bench/):
#   * wrk (Debian) drives REST through Envoy;
#   * h2load (Debian's nghttp2-client) drives the scaling phase's GetPayment calls (the lightest
#     load generator, so the service's workers get the cores);
#   * ghz drives native gRPC, pinned by the tools module in tools/ghz/ (go.mod + go.sum),
#     built with `go install` like grpcui (re-built only when go.mod or go.sum change);
#   * pgbench (Debian's postgresql-client) measures the database's own limits.
# py-spy (the profiler docs/performance.md uses) comes with the virtualenv (requirements/dev.in).
need_bench_apt=()
command -v wrk >/dev/null || need_bench_apt+=(wrk)
command -v h2load >/dev/null || need_bench_apt+=(nghttp2-client)
command -v pgbench >/dev/null || ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need_bench_apt+=(postgresql-client)
if ((${#need_bench_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${need_bench_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_bench_apt[@]}" >/dev/null
  else
    echo "missing system packages for make bench: ${need_bench_apt[*]}" >&2
    exit 1
  fi
fi
ghz_stamp="$(cat tools/ghz/go.mod tools/ghz/go.sum | sha256sum | cut -d' ' -f1)"
if [ ! -x "$TOOLS_BIN/ghz" ] || [ "$(cat "$TOOLS_BIN/.ghz.version" 2>/dev/null)" != "$ghz_stamp" ]; then
  log "go install ghz (tools/ghz/go.mod)"
  (cd tools/ghz && GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod go install github.com/bojand/ghz/cmd/ghz)
  echo "$ghz_stamp" > "$TOOLS_BIN/.ghz.version"
fi
