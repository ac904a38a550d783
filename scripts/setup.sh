#!/usr/bin/env bash
# Installs what the project needs, idempotently, showing progress: npm packages (from the lockfile),
# the compiled package, and the examples' link to it. Optional parts:
#   --pulumi  also ensure the Pulumi CLI with its Node.js, Python and YAML language hosts and the Python SDK's
#             virtualenv (built from the Go module proxy / PyPI and cached, see ensure-pulumi.sh), and the
#             lbgw plugin's generated SDKs (gen-sdks.sh)
#   --lab     also ensure the Debian packages of the Linux namespace lab and of the VM lab, and the VM lab's
#             Debian gateway image (root only)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

want_pulumi=false want_lab=false
for a in "$@"; do
  case "$a" in
    --pulumi) want_pulumi=true ;;
    --lab) want_lab=true ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

stamp=node_modules/.lbgw-lock-hash
hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  step "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
  echo "$hash" > "$stamp"
else
  step "npm packages already installed"
fi

step "compiling (tsc)"
npm run --silent build

# Examples are real Pulumi programs. Their package.json lists what a copy outside the repository installs
# (test/engine/lifecycle.test.ts does that); here each only links the package, and everything else resolves
# from the repository's node_modules: an `npm install` in the example would add a second @pulumi/pulumi,
# and a program whose resources come from another copy of the SDK than its stack does not run.
for ex in examples/*/; do
  [ -f "$ex/package.json" ] || continue
  if [ "$(readlink "$ex/node_modules/pulumi-loadbalanced-gateway" 2>/dev/null)" != ../../.. ] ||
    [ -d "$ex/node_modules/@pulumi" ]; then
    step "linking $ex to the package"
    rm -rf "$ex/node_modules"
    mkdir -p "$ex/node_modules"
    ln -s ../../.. "$ex/node_modules/pulumi-loadbalanced-gateway"
  fi
done

# The repository's own project (Pulumi.yaml, deploy/gateway.ts) is a program of this package too: the
# dynamic-provider host loads the provider by package name, so the package is linked into node_modules.
if [ "$(readlink node_modules/pulumi-loadbalanced-gateway 2>/dev/null)" != .. ]; then
  step "linking the package into its own node_modules (for the root Pulumi project)"
  ln -sfn .. node_modules/pulumi-loadbalanced-gateway
fi

if $want_lab; then
  if [ "$(id -u)" = 0 ]; then
    step "Linux lab packages"
    bash scripts/lab-deps.sh
    step "VM lab: packages (qemu, debootstrap) and the Debian gateway image (cached; cold about 2 minutes)"
    bash scripts/vm-deps.sh
    bash labs/linux-vm/image.sh >/dev/null
  else
    echo "!! not root: the Linux lab cannot be built here (its tests will say so loudly)" >&2
  fi
fi

if $want_pulumi; then
  step "Pulumi CLI, language hosts (Node.js, Python, YAML), Python SDK virtualenv"
  bash scripts/ensure-pulumi.sh >/dev/null
fi

if $want_pulumi; then
  # The lbgw plugin's SDKs (Python and Go, generated from plugin/schema.json into dist/sdks), and the Python
  # one installed into the Python programs' virtualenv (examples/python-routeros imports it).
  step "plugin SDKs (dist/sdks) and the Python SDK in the virtualenv"
  bash scripts/gen-sdks.sh python go
  # shellcheck source=scripts/pulumi-env.sh
  . scripts/pulumi-env.sh
  "$LBGW_PYTHON_VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation --no-index \
    --force-reinstall dist/sdks/python
fi
