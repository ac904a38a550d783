#!/usr/bin/env bash
# ensure-pulumi.sh: make the real Pulumi engine (CLI + Node.js language host + the
# dynamic-provider launcher, + the Python and YAML language hosts and a virtualenv with the Pulumi
# Python SDK) available without any binary download.
#
#   PATH="$(scripts/ensure-pulumi.sh | tail -1):$PATH"
#
# 1. If `pulumi`, `pulumi-language-nodejs`, `pulumi-resource-pulumi-nodejs` and the hosts of the
#    extra languages (`pulumi-language-python` with its `pulumi-language-python-exec`,
#    `pulumi-language-yaml`) are all on PATH already, they are used and nothing is built but the
#    Python virtualenv.
# 2. Otherwise the binaries are built from the Go module proxy (pinned versions below) and
#    cached in ${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}/pulumi-<version>/bin.
#    A later run with that cache present only prints where it is.
# The Python and YAML hosts and the virtualenv are scripts/ensure-pulumi-languages.sh's phases,
# each cached on its own: a CLI cache made before they existed only gains them (no CLI rebuild).
# Python programs find the virtualenv through PULUMI_PYTHON_CMD (see scripts/pulumi-env.sh).
#
# The last line on stdout is the bin directory to prepend to PATH; progress goes to stderr.
# A cold build needs Go >= 1.25.11 and takes many minutes on 2 cores (the CLI is large);
# downloads land in the default Go module cache, so a rebuild reuses them.
#
# Environment:
#   LBGW_CACHE_DIR              cache root (default $HOME/.cache/pulumi-loadbalanced-gateway)
#   LBGW_PULUMI_FORCE_BUILD=1   ignore a Pulumi already on PATH and use/build the cached one
#   LBGW_PULUMI_LANGUAGES       extra languages to provide (default "python yaml"; "" = Node only);
#                               more knobs in scripts/ensure-pulumi-languages.sh
set -euo pipefail

# --- pinned versions -------------------------------------------------------------------
# Pulumi CLI: the Node SDK in package.json is @pulumi/pulumi 3.248.0, so v3.248.0 was the
# target. It cannot be built from the module proxy reachable here: the checksum database
# has no record of github.com/pulumi/pulumi/pkg/v3@v3.248.0 ("verifying go.mod: ... 404 Not
# Found"), and we do not switch off checksum verification (GONOSUMDB/GOFLAGS=-insecure) for
# the main thing we build. v3.247.0 and v3.249.0 are refused by the proxy (403). The nearest
# releases that download and verify are v3.246.0 and v3.250.0; v3.250.0 is used because a
# CLI newer than the SDK is the supported direction (the engine keeps older SDKs working;
# an older engine may lack features a newer SDK asks for).
PULUMI_VERSION="v3.250.0"
# Non-local replace directives of pkg/v3@v3.250.0's go.mod (its `sdk/v3 => ../sdk` is local
# and is covered by requiring sdk/v3 at the same version). sdk/v3's own go.mod also has
# `golang.org/x/text => v0.3.8`; it is not repeated: Go ignores a dependency's replaces, so
# upstream's CLI (built with pkg as the main module) never used it, and it would downgrade
# x/text below the v0.38.0 that pkg requires.
CLI_REPLACES=(
  "github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
)

# Node.js language host. Its real home is the module
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 (no tags; pinned by
# pseudo-version), but the proxy reachable here refuses that module outright: its version
# list, commit look-ups, and the pseudo-versions of the v3.246/v3.248/v3.250/v3.259 release
# commits all answer 403 "This module version is not available". The newest version of
# github.com/pulumi/pulumi/sdk/v3 on the proxy that still carries the language host as a
# package (before it moved into its own module) is v3.68.0, so the host is built from there.
# It speaks the same LanguageRuntime gRPC protocol; the engine falls back for the RPCs added
# since, and the program itself runs with the project's own @pulumi/pulumi (cmd/run).
LANGHOST_SDK_VERSION="v3.68.0"
LANGHOST_PKG="github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
# sdk/v3@v3.68.0 has `golang.org/x/text => v0.3.6`: not repeated (a downgrade below the
# v0.7.0 that the module graph requires; only upstream's sdk-as-main build used it).
LANGHOST_REPLACES=()

MIN_GO="1.25.11" # pkg/v3@v3.250.0 declares `go 1.25.11`
VERSION_VAR="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
BINARIES=(pulumi pulumi-language-nodejs pulumi-resource-pulumi-nodejs)

log() { printf '[ensure-pulumi %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

LANGUAGES_SCRIPT="$(dirname "$0")/ensure-pulumi-languages.sh"
# Hosts of the extra languages (built by $LANGUAGES_SCRIPT); the Python host runs programs through
# pulumi-language-python-exec, which must sit beside it.
LANGUAGE_BINARIES=()
for lang in ${LBGW_PULUMI_LANGUAGES-python yaml}; do
  case "$lang" in
    python) LANGUAGE_BINARIES+=(pulumi-language-python) ;;
    yaml) LANGUAGE_BINARIES+=(pulumi-language-yaml) ;;
    *) die "LBGW_PULUMI_LANGUAGES: unknown language '$lang' (known: python yaml)" ;;
  esac
done
# ensure_languages [BIN_DIR]: the extra languages' phases (each a no-op when cached); stdout stays clean.
# Run as a waited-for child that a signal to this script is passed on to (it cleans up after itself).
ensure_languages() {
  local rc=0
  bash "$LANGUAGES_SCRIPT" "$@" >&2 &
  LANGUAGES_PID=$!
  trap 'kill -TERM "$LANGUAGES_PID" 2>/dev/null || true; wait "$LANGUAGES_PID" 2>/dev/null || true; exit 130' INT TERM
  wait "$LANGUAGES_PID" || rc=$?
  trap - INT TERM
  [[ $rc == 0 ]] || die "$LANGUAGES_SCRIPT failed (exit $rc; LBGW_PULUMI_LANGUAGES=\"\" skips it)"
}

# --- 1. an installed Pulumi wins --------------------------------------------------------
if [[ "${LBGW_PULUMI_FORCE_BUILD:-}" != "1" ]]; then
  all_found=1
  for b in "${BINARIES[@]}" "${LANGUAGE_BINARIES[@]}"; do
    command -v "$b" >/dev/null 2>&1 || { all_found=0; break; }
  done
  if [[ $all_found == 1 && " ${LANGUAGE_BINARIES[*]-} " == *" pulumi-language-python "* &&
    ! -f "$(dirname "$(command -v pulumi-language-python)")/pulumi-language-python-exec" ]]; then
    all_found=0
  fi
  if [[ $all_found == 1 ]]; then
    for b in "${BINARIES[@]}" "${LANGUAGE_BINARIES[@]}"; do log "using $b: $(command -v "$b")"; done
    log "pulumi version: $(pulumi version 2>/dev/null || echo unknown)"
    ensure_languages # the Python virtualenv only
    dirname "$(command -v pulumi)"
    exit 0
  fi
fi

# --- 2. the cache -----------------------------------------------------------------------
CACHE_ROOT="${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}"
INSTALL_DIR="$CACHE_ROOT/pulumi-$PULUMI_VERSION"
BIN_DIR="$INSTALL_DIR/bin"

cache_complete() {
  local b
  [[ -f "$INSTALL_DIR/BUILDINFO" ]] || return 1
  for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}

# finish: the extra languages' phases into the (complete) cache, then its bin dir as the last line.
finish() {
  ensure_languages "$BIN_DIR"
  echo "$BIN_DIR"
}

if cache_complete; then
  log "cached Pulumi $PULUMI_VERSION: $BIN_DIR"
  finish
  exit 0
fi

mkdir -p "$CACHE_ROOT"
# One build at a time; whoever waited finds the finished cache.
HAVE_LOCK=0
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.ensure-pulumi.lock"
  HAVE_LOCK=1
  if ! flock -n 9; then
    log "another ensure-pulumi build is running; waiting for it"
    flock 9
  fi
  if cache_complete; then
    log "cached Pulumi $PULUMI_VERSION: $BIN_DIR"
    finish
    exit 0
  fi
fi

# --- 3. build -----------------------------------------------------------------------------
command -v go >/dev/null 2>&1 ||
  die "Pulumi is not on PATH and Go (>= $MIN_GO) is not installed to build it"
command -v node >/dev/null 2>&1 || die "node is not on PATH (the launcher and programs need it)"
go_version="$(go env GOVERSION)" # e.g. go1.26.8
go_version="${go_version#go}"
if [[ "$(printf '%s\n%s\n' "$MIN_GO" "${go_version%%[!0-9.]*}" | sort -V | head -1)" != "$MIN_GO" &&
  "$(go env GOTOOLCHAIN)" == local* ]]; then
  die "Go $go_version is too old to build Pulumi $PULUMI_VERSION (needs >= $MIN_GO)"
fi

# Build next to the final location (same filesystem) and rename into place at the end, so
# an interrupted build never leaves a half-filled cache.
# Leftovers of a killed (SIGKILL) build: removed while we hold the lock (nobody else builds).
if [[ $HAVE_LOCK == 1 ]]; then rm -rf "$CACHE_ROOT"/.build-pulumi-* 2>/dev/null || true; fi
WORK="$(mktemp -d "$CACHE_ROOT/.build-pulumi-$PULUMI_VERSION.XXXXXX")"
CHILD=""
cleanup() { rm -rf "$WORK"; }
on_signal() {
  if [[ -n "$CHILD" ]]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  log "interrupted; nothing was installed"
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM
# run_in DIR CMD...: run CMD in DIR as a background child and wait for it, so that a signal
# to this script interrupts the long `go build` at once instead of after it finishes.
run_in() {
  local dir="$1" rc=0
  shift
  (cd "$dir" && exec "$@") &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}
STAGE="$WORK/pulumi-$PULUMI_VERSION"
mkdir -p "$STAGE/bin"

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export CGO_ENABLED="${CGO_ENABLED:-0}"
started=$SECONDS
log "building Pulumi $PULUMI_VERSION with Go $go_version into $STAGE (cold: many minutes)"
log "GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE) GOFLAGS=$GOFLAGS"

# write_wrapper DIR MODULE "REQUIRE..." "REPLACE..."  (REPLACE entries are old=new@version)
write_wrapper() {
  local dir="$1" module="$2" req rep
  mkdir -p "$dir"
  printf 'module %s\n\ngo %s\n' "$module" "$MIN_GO" >"$dir/go.mod"
  for req in $3; do (cd "$dir" && go mod edit -require="$req"); done
  for rep in $4; do (cd "$dir" && go mod edit -replace="$rep"); done
}

# CLI: a wrapper module that requires pkg/v3 and sdk/v3 at the same version.
CLI_MOD="$WORK/cli"
write_wrapper "$CLI_MOD" "lbgw.local/pulumi-cli" \
  "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" \
  "${CLI_REPLACES[*]-}"
log "phase 1/3: pulumi CLI $PULUMI_VERSION (go build -v: downloads, then compiles ~1000 packages)"
run_in "$CLI_MOD" go build -v -trimpath \
  -ldflags "-s -w -X $VERSION_VAR=$PULUMI_VERSION" \
  -o "$STAGE/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
log "phase 1/3 done after $((SECONDS - started))s"

# Node.js language host.
LH_MOD="$WORK/langhost"
write_wrapper "$LH_MOD" "lbgw.local/pulumi-language-nodejs" \
  "github.com/pulumi/pulumi/sdk/v3@$LANGHOST_SDK_VERSION" "${LANGHOST_REPLACES[*]-}"
log "phase 2/3: pulumi-language-nodejs (from sdk/v3@$LANGHOST_SDK_VERSION)"
run_in "$LH_MOD" go build -v -trimpath \
  -ldflags "-s -w -X $VERSION_VAR=$LANGHOST_SDK_VERSION" \
  -o "$STAGE/bin/pulumi-language-nodejs" "$LANGHOST_PKG"
log "phase 2/3 done after $((SECONDS - started))s"

# The dynamic-provider launcher. Same job as sdk/nodejs/dist/pulumi-resource-pulumi-nodejs in
# pulumi/pulumi (shipped in @pulumi/pulumi too): resolve @pulumi/pulumi/cmd/dynamic-provider
# from the current directory (the engine starts it in the program directory) and run it.
log "phase 3/3: pulumi-resource-pulumi-nodejs launcher"
cat >"$STAGE/bin/pulumi-resource-pulumi-nodejs" <<'EOF'
#!/bin/sh
# Pulumi dynamic-provider launcher (written by scripts/ensure-pulumi.sh). The engine runs it
# from the program directory, so @pulumi/pulumi resolves from the program's node_modules.
PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -p 'require.resolve("@pulumi/pulumi/cmd/dynamic-provider")') || exit 1
[ -n "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" ] || exit 1
exec node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" "$@"
EOF
chmod 0755 "$STAGE/bin/pulumi-resource-pulumi-nodejs"

"$STAGE/bin/pulumi" version >/dev/null || die "the built pulumi does not run"
cat >"$STAGE/BUILDINFO" <<EOF
pulumi (github.com/pulumi/pulumi/pkg/v3) $PULUMI_VERSION
pulumi-language-nodejs ($LANGHOST_PKG) $LANGHOST_SDK_VERSION
pulumi-resource-pulumi-nodejs: launcher script
built $(date -u +%Y-%m-%dT%H:%M:%SZ) with go$go_version in $((SECONDS - started))s
EOF
(cd "$CLI_MOD" && cp go.mod "$STAGE/cli.go.mod" && cp go.sum "$STAGE/cli.go.sum")
(cd "$LH_MOD" && cp go.mod "$STAGE/langhost.go.mod" && cp go.sum "$STAGE/langhost.go.sum")

# Move into place atomically (a stale incomplete dir, if any, is moved aside first).
if [[ -e "$INSTALL_DIR" ]]; then mv "$INSTALL_DIR" "$WORK/stale"; fi
mv "$STAGE" "$INSTALL_DIR"
log "built Pulumi $PULUMI_VERSION in $((SECONDS - started))s; cached in $BIN_DIR ($(du -sh "$INSTALL_DIR" | cut -f1))"
finish
