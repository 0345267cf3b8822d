#!/bin/sh
# `redis-server ARGS...` runs with protected mode off, as the official image builds it; any
# other command runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
