#!/usr/bin/env bash
# Re-vendor Swagger UI into gateway/static/swagger-ui (run by hand to bump the version; not
# part of make setup). The files are committed so that the gateway, its image and a fresh
# clone serve /docs with no network and no npm: only what the page loads, byte for byte as
# the npm package has it, with their SHA-256 in SOURCE (tests/unit/test_api_docs.py checks).
#   scripts/vendor-swagger-ui.sh 5.35.0
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: $0 <swagger-ui-dist version>}"
files=(LICENSE NOTICE favicon-32x32.png swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf swagger-ui-dist-"$version".tgz)
integrity="$(cd "$work" && npm view "swagger-ui-dist@$version" dist.integrity)"
target=gateway/static/swagger-ui
rm -rf "$target" && mkdir -p "$target"
for file in "${files[@]}"; do cp "$work/package/$file" "$target/"; done
{ echo "# Vendored from npm swagger-ui-dist@$version by scripts/vendor-swagger-ui.sh (do not edit)."
  echo "# integrity $integrity"
  (cd "$target" && sha256sum "${files[@]}"); } > "$target/SOURCE.new"
mv "$target/SOURCE.new" "$target/SOURCE"
echo "vendored swagger-ui-dist $version into $target"
