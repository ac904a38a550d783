#!/usr/bin/env bash
# gen-sdks.sh: the lbgw plugin's SDKs for other languages, generated from plugin/schema.json (itself
# generated from the zod schema: `npm run schema`) into dist/sdks/<language>. Never committed.
#
#   bash scripts/gen-sdks.sh [python] [go]      (default: both)
#
# The generator is plugin/sdkgen (Pulumi's own code generators, at the CLI's version; its main.go says why
# it is not `pulumi package gen-sdk`). It is built once from the Go module proxy and cached in
# ${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}/lbgw-sdkgen-<source hash>.
# A TypeScript program needs none of this: it uses the package itself (sdk/).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[gen-sdks %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(python go)

CACHE_ROOT="${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}"
hash=$(cat plugin/sdkgen/go.mod plugin/sdkgen/go.sum plugin/sdkgen/main.go | sha256sum | cut -c1-16)
tool="$CACHE_ROOT/lbgw-sdkgen-$hash/lbgw-sdkgen"
if [ ! -x "$tool" ]; then
  command -v go >/dev/null 2>&1 || { log "ERROR: Go is needed to build the SDK generator"; exit 1; }
  log "building the SDK generator (Pulumi's codegen from the Go module proxy; cold: a few minutes)"
  mkdir -p "$CACHE_ROOT"
  tmp=$(mktemp -d "$CACHE_ROOT/.build-sdkgen.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd plugin/sdkgen && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$tmp/lbgw-sdkgen" .)
  mkdir -p "$(dirname "$tool")"
  mv "$tmp/lbgw-sdkgen" "$tool"
fi

for lang in "${languages[@]}"; do
  out="dist/sdks/$lang"
  "$tool" plugin/schema.json "$lang" "$out" >&2
  case "$lang" in
    go)
      # The generated package has no module file of its own: give it one, at the CLI's SDK version, so
      # that it builds (and a Go program can `replace` it in).
      sdk_version=$(awk '$1 == "github.com/pulumi/pulumi/sdk/v3" { print $2 }' plugin/sdkgen/go.mod)
      printf 'module example.com/lbgw/sdk/go\n\ngo 1.25.11\n\nrequire github.com/pulumi/pulumi/sdk/v3 %s\n' \
        "$sdk_version" >"$out/go.mod"
      ;;
  esac
  log "$lang SDK in $out"
done
