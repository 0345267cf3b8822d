#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh Debian machine (run by `make setup`).
# Installs what is missing and nothing else:
#   * system packages: redis-server, prometheus (+promtool), curl, jq
#   * the Python virtualenv (.venv) from the locked requirements
#   * pinned Go tools into .tools/bin: stripe-mock here; grpcui (scripts/setup.d/10-grpcui.sh);
#     helm, the Kubernetes control plane, kwok, ct, conftest... (scripts/setup.d/20-cluster-tools.sh)
# PostgreSQL 15 server binaries are expected on the machine (initdb, pg_ctl).
set -euo pipefail
cd "$(dirname "$0")/.."

STRIPE_MOCK_VERSION="${STRIPE_MOCK_VERSION:-v0.203.0}"
PYTHON="${PYTHON:-python3}"
TOOLS_BIN="$PWD/.tools/bin"

log() { printf '==> %s\n' "$*"; }

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
{ command -v prometheus && command -v promtool; } >/dev/null || need_apt+=(prometheus)
command -v curl >/dev/null || need_apt+=(curl)
command -v jq >/dev/null || need_apt+=(jq)
if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts these as system services; the project runs its own private instances.
    (systemctl disable --now redis-server prometheus 2>/dev/null || service redis-server stop 2>/dev/null || true) >/dev/null 2>&1
  else
    echo "missing system packages: ${need_apt[*]} (install them, e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
# Reinstall when the lock or pyproject.toml (console scripts, processor entry points) changed.
if ! cat requirements/lock.txt pyproject.toml | cmp -s - .venv/.installed 2>/dev/null; then
  log "installing Python dependencies (requirements/lock.txt) and the service"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements/lock.txt
  .venv/bin/pip install -q --no-deps -e .
  cat requirements/lock.txt pyproject.toml > .venv/.installed
fi

mkdir -p "$TOOLS_BIN"
go_tool() { # name module version
  local name=$1 module=$2 version=$3
  if [ -x "$TOOLS_BIN/$name" ] && [ "$(cat "$TOOLS_BIN/.$name.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  log "go install $module@$version"
  GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod go install "$module@$version" && echo "$version" > "$TOOLS_BIN/.$name.version"
}
go_tool stripe-mock github.com/stripe/stripe-mock "$STRIPE_MOCK_VERSION"

# Each capability adds its own idempotent step as scripts/setup.d/NN-name.sh (run in name order,
# sourced with TOOLS_BIN, log and go_tool available), so set-up grows without editing this file.
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  log "setup step ${step##*/}"
  # shellcheck source=/dev/null
  source "$step"
done

log "setup complete"
