#!/usr/bin/env bash
# Installs the Debian packages the Linux gateway lab (labs/linux-lab) and the benchmarks on it
# (bench/: iperf3 for traffic, taskset to pin it; iptables (nft backend) and ipset for the data-plane
# bench's peers, bench/peers.ts) need, only when missing.
# Idempotent: a second run with everything present installs nothing and does not touch apt.
#
#   bash scripts/lab-deps.sh          # install what is missing
#   bash scripts/lab-deps.sh --check  # exit 1 and list what is missing, install nothing
#
# The openssh-server package would start a system sshd on port 22 in the root namespace when installed
# in a machine without systemd; the lab runs its own sshd inside a namespace instead, so service starts
# are suppressed during the install with Debian's policy-rc.d mechanism (only if none exists already).
set -euo pipefail

# command -> Debian package that provides it
declare -A PKG_FOR=(
  [ip]=iproute2
  [nft]=nftables
  [sshd]=openssh-server
  [ssh-keygen]=openssh-client
  [conntrack]=conntrack
  [socat]=socat
  [ps]=procps
  [sysctl]=procps
  [ping]=iputils-ping
  [sudo]=sudo
  [openssl]=openssl
  [iperf3]=iperf3
  [taskset]=util-linux
  [iptables]=iptables
  [iptables-restore]=iptables
  [ipset]=ipset
)

have() {
  case "$1" in
    sshd) [ -x /usr/sbin/sshd ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

missing=()
for cmd in "${!PKG_FOR[@]}"; do
  if ! have "$cmd"; then
    pkg="${PKG_FOR[$cmd]}"
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "lab-deps: all present"
  exit 0
fi

if [ "${1-}" = "--check" ]; then
  echo "lab-deps: missing: ${missing[*]}"
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "lab-deps: missing ${missing[*]} and not root: cannot install" >&2
  exit 1
fi

echo "lab-deps: installing ${missing[*]}"
# noninteractive also answers iperf3's "start a daemon?" question with its default, no
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, by scripts/lab-deps.sh: do not start services during install\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

echo "lab-deps: apt-get update"
apt-get update -qq
echo "lab-deps: apt-get install ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "lab-deps: done"
