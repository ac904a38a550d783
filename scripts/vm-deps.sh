#!/usr/bin/env bash
# Installs the Debian packages the VM lab (labs/linux-vm) needs, only when missing: qemu-system-x86
# (software-emulated VMs), qemu-utils (qemu-img for the throwaway overlays) and debootstrap (the image).
# Idempotent: with everything present it installs nothing and does not touch apt.
#
#   bash scripts/vm-deps.sh          # install what is missing
#   bash scripts/vm-deps.sh --check  # exit 1 and list what is missing, install nothing
set -euo pipefail

declare -A PKG_FOR=(
  [qemu-system-x86_64]=qemu-system-x86
  [qemu-img]=qemu-utils
  [debootstrap]=debootstrap
  [mkfs.ext4]=e2fsprogs
  [ssh-keygen]=openssh-client
  [flock]=util-linux
)

missing=()
for cmd in "${!PKG_FOR[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
    pkg="${PKG_FOR[$cmd]}"
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "vm-deps: all present" >&2
  exit 0
fi
if [ "${1-}" = "--check" ]; then
  echo "vm-deps: missing: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "vm-deps: missing ${missing[*]} and not root: cannot install" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "vm-deps: apt-get update" >&2
apt-get update -qq >&2
echo "vm-deps: apt-get install ${missing[*]}" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "vm-deps: done" >&2
