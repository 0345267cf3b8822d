# shellcheck shell=bash
# A development CA and a server certificate for Envoy's TLS port (:8443, ENVOY_TLS_PORT), under
# .data/tls/ (ignored by git): ca.crt (trust this one), ca.key, server.crt, server.key.
# Idempotent: kept while the server certificate is valid for 30 more days and signed by ca.crt.
# Sourced by scripts/setup.sh; `make run` and the tests also run it directly when files are missing.
command -v log >/dev/null 2>&1 || log() { printf '==> %s\n' "$*"; }

dev_tls() {
  local dir=.data/tls month=2592000
  mkdir -p "$dir"
  if openssl x509 -checkend "$month" -noout -in "$dir/server.crt" >/dev/null 2>&1 \
     && openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 && [ -s "$dir/server.key" ]; then
    return 0
  fi
  if ! openssl x509 -checkend "$month" -noout -in "$dir/ca.crt" >/dev/null 2>&1 || [ ! -s "$dir/ca.key" ]; then
    log "creating the local development CA ($dir/ca.crt)"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
      -subj "/CN=payment-service local development CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  fi
  log "issuing the local server certificate for localhost, 127.0.0.1 and ::1 ($dir/server.crt)"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 397 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  rm -f "$dir/server.csr" "$dir/server.ext"
  chmod 600 "$dir/ca.key" "$dir/server.key"
}

dev_tls
