#!/usr/bin/env bash
# The demo, README's one command (`npm run demo`): installs what it needs, then runs demo/main.ts.
#
#   bash scripts/demo.sh [--routeros | --linux] [--sticky] [--out DIR]
#
# As root: the Linux variant (a gateway lab in network namespaces, `pulumi up` of
# examples/linux-weighted-failover over SSH, real traffic, an upstream failure, failover, recovery,
# destroy). Not root, or --routeros: the RouterOS variant (the RouterOS API simulator and the packet-path
# evaluator). Either writes demo-output/chart.svg and demo-output/summary.json and leaves nothing else
# behind, also on failure or Ctrl-C. Idempotent: run it again any time.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

variant=linux
for a in "$@"; do
  case "$a" in
    --routeros) variant=routeros ;;
    -h | --help) exec node --import tsx demo/main.ts --help ;;
  esac
done
if [ "$(id -u)" != 0 ] && [ "$variant" = linux ]; then
  echo "demo: not running as root, so the Linux lab (network namespaces) is out of reach:" >&2
  echo "demo: the RouterOS variant runs instead, on the simulator (no root needed)" >&2
  variant=routeros
fi

# npm packages, the compiled package, the examples' links, the Pulumi CLI (+ the lab's Debian packages)
setup_args=(--pulumi)
if [ "$variant" = linux ]; then setup_args+=(--lab); fi
step "setup (scripts/setup.sh ${setup_args[*]})"
bash scripts/setup.sh "${setup_args[@]}"

# the CLI is cached by now: this only prints where it is (last line)
pulumi_bin=$(bash scripts/ensure-pulumi.sh 2>/dev/null | tail -1)
export PATH="$pulumi_bin:$PATH"
# offline Pulumi: no update checks, no plugin downloads (the demo keeps its state in a temp dir)
. scripts/pulumi-env.sh

step "demo ($variant)"
# The demo runs in its own session, so the terminal's Ctrl-C reaches this script alone, which hands it to the
# demo alone: the lab's sshd and the Pulumi CLI keep running while the demo cleans up properly (pulumi
# destroy, then the lab). A second Ctrl-C makes the demo skip what is left of the graceful part.
setsid node --import tsx demo/main.ts "$@" &
demo_pid=$!
trap 'kill -INT "$demo_pid" 2>/dev/null || true' INT
trap 'kill -TERM "$demo_pid" 2>/dev/null || true' TERM
trap 'kill -HUP "$demo_pid" 2>/dev/null || true' HUP
rc=0
while :; do
  if wait "$demo_pid"; then rc=0; break; else rc=$?; fi
  # a trapped signal interrupts `wait` (rc > 128) while the demo still runs: wait again
  if [ "$rc" -le 128 ] || ! kill -0 "$demo_pid" 2>/dev/null; then break; fi
done
exit "$rc"
