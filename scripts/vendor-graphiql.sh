#!/usr/bin/env bash
# Re-vendor GraphiQL and its React peers into gateway/static/graphiql (run by hand to bump a
# version; not part of make setup). Like Swagger UI (scripts/vendor-swagger-ui.sh), the built
# files are committed so that the gateway, its image, an air-gapped cluster and a fresh clone
# serve GraphiQL with no network and no npm at set-up or run time: only the files the page
# loads, byte for byte as the npm packages have them, with their SHA-256 in SOURCE
# (tests/unit/test_graphiql_page.py checks). graphiql 3.8.x is the last line with a UMD build
# on React 18 UMD builds (graphiql 5 and React 19 ship ES modules only, which need a bundler).
#   scripts/vendor-graphiql.sh 3.8.3 18.3.1
set -euo pipefail
cd "$(dirname "$0")/.."
graphiql="${1:?usage: $0 <graphiql version> <react version>}"
react="${2:?usage: $0 <graphiql version> <react version>}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
target=gateway/static/graphiql
rm -rf "$target" && mkdir -p "$target"
# package version source-path -> vendored name
vendor() {
  local package=$1 version=$2 source=$3 name=$4
  local tarball dir="$work/$package"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    tarball="$(cd "$dir" && npm pack --silent "$package@$version")"
    tar xzf "$dir/$tarball" -C "$dir"
    echo "# $package@$version integrity $(npm view "$package@$version" dist.integrity)" >> "$work/integrity"
  fi
  cp "$dir/package/$source" "$target/$name"
}
vendor graphiql "$graphiql" graphiql.min.js graphiql.min.js
vendor graphiql "$graphiql" graphiql.min.css graphiql.min.css
vendor graphiql "$graphiql" LICENSE LICENSE.graphiql
vendor react "$react" umd/react.production.min.js react.production.min.js
vendor react "$react" LICENSE LICENSE.react
vendor react-dom "$react" umd/react-dom.production.min.js react-dom.production.min.js
vendor react-dom "$react" LICENSE LICENSE.react-dom
files=(graphiql.min.js graphiql.min.css LICENSE.graphiql react.production.min.js LICENSE.react
       react-dom.production.min.js LICENSE.react-dom)
{ echo "# Vendored from npm graphiql@$graphiql, react@$react, react-dom@$react by scripts/vendor-graphiql.sh (do not edit)."
  cat "$work/integrity"
  (cd "$target" && sha256sum "${files[@]}"); } > "$target/SOURCE.new"
mv "$target/SOURCE.new" "$target/SOURCE"
echo "vendored graphiql $graphiql and react/react-dom $react into $target"
