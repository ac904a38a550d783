#!/usr/bin/env bash
# image.sh: build (once) the Debian bookworm gateway image the VM lab (labs/linux-vm) boots under qemu.
#
#   dir="$(bash labs/linux-vm/image.sh | tail -1)"
#
# The last line on stdout is the image directory; progress goes to stderr. Needs root (debootstrap,
# chroot) and the packages of scripts/vm-deps.sh (installed when missing).
#
# The image (about 615 MiB of rootfs, too big to commit) is cached under
# ${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}/vm-image-<hash of this script>/:
#   rootfs.raw                 ext4 filesystem (mkfs.ext4 -d, no loop mount), the VM's /dev/vda
#   vmlinuz, initrd.img        the image's own kernel and a small initrd (MODULES=list)
#   id_ed25519, id_ed25519.pub the key root logs in with (generated here, never committed)
#   ssh_host_ed25519_key.pub   the VM's host key (baked in, generated here)
#   BUILDINFO
# A later run with the cache present does nothing but print the directory. Editing this script changes
# the hash, so the next run builds a fresh image.
#
# The guest: systemd as PID 1 (systemd-sysv, udev, dbus), openssh-server (root by key only), nftables,
# iproute2, conntrack, iputils-ping, procps, kmod, linux-image-amd64. NIC names are pinned by MAC with
# systemd .link files (the lab gives qemu these MACs), addresses are static (systemd-networkd):
#   mgmt0 52:54:00:4c:00:01 169.254.250.2/30  (the host's tap: 169.254.250.1)
#   lan0  52:54:00:4c:00:02 192.168.0.1/24
#   wan1  52:54:00:4c:00:03 10.111.0.2/24     (ISP 1: 10.111.0.1)
#   wan2  52:54:00:4c:00:04 10.112.0.2/24     (ISP 2: 10.112.0.1)
# the same as the namespace lab's gateway (labs/linux-lab). No default route: the uplinks' routers are the
# lab's; nothing in the guest reaches outside the lab.
#
# Environment: LBGW_CACHE_DIR (cache root), LBGW_DEBIAN_MIRROR (default: the host's configured mirror).
set -euo pipefail

log() { printf '[vm-image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KEY="$(sha256sum "$0" | cut -c1-16)"
CACHE_ROOT="${LBGW_CACHE_DIR:-$HOME/.cache/pulumi-loadbalanced-gateway}"
OUT="$CACHE_ROOT/vm-image-$KEY"
FILES=(rootfs.raw vmlinuz initrd.img id_ed25519 id_ed25519.pub ssh_host_ed25519_key.pub BUILDINFO)

complete() {
  local f
  for f in "${FILES[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
}
if complete; then
  log "cached VM image: $OUT"
  echo "$OUT"
  exit 0
fi

[[ "$(id -u)" == 0 ]] || die "building the VM image needs root (debootstrap, chroot)"
bash "$ROOT/scripts/vm-deps.sh"

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.vm-image.lock"
if ! flock -n 9; then
  log "another VM image build is running; waiting for it"
  flock 9
fi
if complete; then
  log "cached VM image: $OUT"
  echo "$OUT"
  exit 0
fi

# Leftovers of a killed build: ours to remove while we hold the lock.
for d in "$CACHE_ROOT"/.build-vm-image-*; do
  [[ -d "$d" ]] || continue
  umount -l "$d/rootfs/proc" 2>/dev/null || true
  rm -rf "$d"
done
WORK="$(mktemp -d "$CACHE_ROOT/.build-vm-image-$KEY.XXXXXX")"
R="$WORK/rootfs"
cleanup() {
  umount -l "$R/proc" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted; nothing was cached"; exit 130' INT TERM

MIRROR="${LBGW_DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
  MIRROR="$(grep -rhoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    awk '{print $2}' | head -1 || true)"
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

started=$SECONDS
INCLUDE=systemd-sysv,udev,dbus,openssh-server,nftables,iproute2,linux-image-amd64,iputils-ping,conntrack,procps,kmod,initramfs-tools
log "debootstrap --variant=minbase bookworm from $MIRROR (1-2 min)"
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
log "debootstrap done after $((SECONDS - started))s"

# --- keys: root's login key and the host key, made here, kept in the cache ----------------------------
ssh-keygen -q -t ed25519 -N "" -C "lbgw-vm-lab" -f "$WORK/id_ed25519"
rm -f "$R"/etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N "" -C "lbgw-vm-gateway" -f "$R/etc/ssh/ssh_host_ed25519_key"
cp "$R/etc/ssh/ssh_host_ed25519_key.pub" "$WORK/ssh_host_ed25519_key.pub"
install -d -m 0700 "$R/root/.ssh"
install -m 0600 "$WORK/id_ed25519.pub" "$R/root/.ssh/authorized_keys"
cat >"$R/etc/ssh/sshd_config.d/lbgw-lab.conf" <<'EOF'
# the VM lab: root by key only, only the baked ed25519 host key, no DNS lookups of clients
PermitRootLogin prohibit-password
PasswordAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
EOF

# --- system ---------------------------------------------------------------------------------------------
echo lbgw-vm >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 lbgw-vm\n' >"$R/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$R/etc/fstab"
# no serial getty waiting for a login, no timers doing work in the background of an emulated CPU
for u in getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# IPv4 lab, like the namespace lab
printf 'net.ipv6.conf.all.disable_ipv6 = 1\nnet.ipv6.conf.default.disable_ipv6 = 1\n' \
  >"$R/etc/sysctl.d/90-lbgw-lab.conf"

# --- network: names pinned by MAC, static addresses (systemd-networkd) ----------------------------------
N="$R/etc/systemd/network"
mkdir -p "$N"
nic() { # name mac address/prefix
  printf '[Match]\nMACAddress=%s\n\n[Link]\nName=%s\n' "$2" "$1" >"$N/10-$1.link"
  printf '[Match]\nName=%s\n\n[Link]\nRequiredForOnline=no\n\n[Network]\nAddress=%s\nConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nKeepConfiguration=static\n' \
    "$1" "$3" >"$N/10-$1.network"
}
nic mgmt0 52:54:00:4c:00:01 169.254.250.2/30
nic lan0 52:54:00:4c:00:02 192.168.0.1/24
nic wan1 52:54:00:4c:00:03 10.111.0.2/24
nic wan2 52:54:00:4c:00:04 10.112.0.2/24
chroot "$R" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$R" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1 || true

# --- a small initrd: only what finds and mounts the root filesystem -------------------------------------
sed -i 's/^MODULES=.*/MODULES=list/' "$R/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >>"$R/etc/initramfs-tools/modules"
mount -t proc proc "$R/proc"
log "update-initramfs (MODULES=list)"
chroot "$R" update-initramfs -u -k all >"$WORK/initramfs.log" 2>&1 ||
  { tail -20 "$WORK/initramfs.log" >&2; die "update-initramfs failed"; }
umount "$R/proc"
chroot "$R" apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin

vmlinuz="$(ls "$R"/boot/vmlinuz-* | sort -V | tail -1)"
initrd="$(ls "$R"/boot/initrd.img-* | sort -V | tail -1)"
cp "$vmlinuz" "$WORK/vmlinuz"
cp "$initrd" "$WORK/initrd.img"

# --- the filesystem image, without a loop mount ---------------------------------------------------------
size_mb=$(($(du -sm "$R" | cut -f1) + 512))
log "mkfs.ext4 -d rootfs (${size_mb} MiB)"
mkfs.ext4 -q -F -L lbgw-root -d "$R" "$WORK/rootfs.raw" "${size_mb}M" >&2

cat >"$WORK/BUILDINFO" <<EOF
Debian bookworm minbase from $MIRROR, script hash $KEY
kernel $(basename "$vmlinuz"), initrd $(du -h "$WORK/initrd.img" | cut -f1), rootfs ${size_mb} MiB
built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started))s
EOF

STAGE="$WORK/vm-image-$KEY"
mkdir "$STAGE"
for f in "${FILES[@]}"; do mv "$WORK/$f" "$STAGE/$f"; done
if [[ -e "$OUT" ]]; then mv "$OUT" "$WORK/stale"; fi
mv "$STAGE" "$OUT"
log "built the VM image in $((SECONDS - started))s: $OUT"
echo "$OUT"
