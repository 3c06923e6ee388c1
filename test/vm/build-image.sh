#!/bin/bash
# Build the Debian 12 guest image for the SELinux VM tests.
#
#   build-image.sh OUTDIR
#
# Two cached stages, both under $AUTOBUILD_VM_CACHE (default /var/cache/autobuild-vm):
#   base-<hash>/rootfs   debootstrap of Debian 12 with the kernel, Debian's
#                        reference policy, git and the policy build tools.
#                        Keyed by this script's package list and suite.
#   OUTDIR               (chosen by run.sh, keyed by a hash of this script, the
#                        guest/ files and policy/selinux/) image.raw, vmlinuz,
#                        initrd.img: the base tree plus the guest runner and the
#                        project's policy module installed offline with semodule,
#                        labelled with setfiles, packed with mkfs.ext4 -d.
# Needs root, debootstrap, e2fsprogs. Fails loudly (non-zero) when the mirror
# cannot be reached: the VM test must never be skipped silently.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: build-image.sh OUTDIR}
CACHE=${AUTOBUILD_VM_CACHE:-/var/cache/autobuild-vm}
SUITE=bookworm
IMAGE_SIZE=${IMAGE_SIZE:-3G}
# Kernel: "backports" (default) = bookworm-backports' 6.12 (Landlock ABI 6:
# TCP rules and IPC scoping, which the engine's confined levels and the
# hostile-module suite need); "stable" = bookworm's 6.1 (Landlock ABI 2).
KERNEL=${AUTOBUILD_VM_KERNEL:-backports}
case "$KERNEL" in backports|stable) ;; *) echo "AUTOBUILD_VM_KERNEL must be backports or stable" >&2; exit 2 ;; esac
PACKAGES=linux-image-amd64,systemd-sysv,udev,selinux-policy-default,policycoreutils,selinux-utils,checkpolicy,semodule-utils,selinux-policy-dev,make,m4,gcc,libc6-dev,git,procps,jq,ca-certificates

if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(grep -rhoE '^URIs: *http[^ ]*/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//') || true
	[ -n "$MIRROR" ] || MIRROR=$(grep -hoE '^deb +http[^ ]*/debian ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}') || true
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

log() { echo "[build-image $(date +%T)] $*"; }
die() { echo "build-image: FATAL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for tool in debootstrap mkfs.ext4 debugfs; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install debootstrap e2fsprogs)"
done

# ---- stage 1: base rootfs (debootstrap), cached by package list ----
basekey=$(printf '%s\n' "v1" "$SUITE" "$PACKAGES" "$KERNEL" | sha256sum | cut -c1-16)
base=$CACHE/base-$basekey
start=$(date +%s)
if [ -x "$base/rootfs/usr/sbin/semodule" ] && [ -f "$base/ok" ]; then
	log "reusing base rootfs $base"
else
	rm -rf "$base"
	mkdir -p "$base/rootfs"
	log "debootstrap $SUITE from $MIRROR into $base (about 2 minutes)"
	if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$base/rootfs" "$MIRROR" >"$base/debootstrap.log" 2>&1; then
		tail -30 "$base/debootstrap.log" >&2
		die "debootstrap failed (is the Debian mirror $MIRROR reachable?)"
	fi
	if [ "$KERNEL" = backports ]; then
		log "installing the bookworm-backports kernel"
		echo "deb $MIRROR $SUITE-backports main" >"$base/rootfs/etc/apt/sources.list.d/backports.list"
		cp /etc/resolv.conf "$base/rootfs/etc/resolv.conf" 2>/dev/null || true
		mount -t proc proc "$base/rootfs/proc"
		if ! { chroot "$base/rootfs" apt-get update -qq &&
			chroot "$base/rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				-t "$SUITE-backports" linux-image-amd64 &&
			chroot "$base/rootfs" sh -c 'dpkg -l "linux-image-6.1.*" 2>/dev/null | awk "/^ii/{print \$2}" | xargs -r env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq'
		} >"$base/backports.log" 2>&1; then
			umount "$base/rootfs/proc"
			tail -30 "$base/backports.log" >&2
			die "installing the bookworm-backports kernel failed (mirror $MIRROR)"
		fi
		umount "$base/rootfs/proc"
		rm -f "$base/rootfs/etc/apt/sources.list.d/backports.list"
	fi
	rm -rf "$base/rootfs"/var/cache/apt/archives/*.deb "$base/rootfs"/var/lib/apt/lists/*_Packages
	touch "$base/ok"
	# Old bases are useless once the package list changed.
	for d in "$CACHE"/base-*; do [ "$d" = "$base" ] || rm -rf "$d"; done
fi
t_base=$(( $(date +%s) - start ))

# ---- stage 2: the image ----
tmp=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() { umount "$tmp/rootfs/proc" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
rootfs=$tmp/rootfs
log "copying base rootfs"
cp -a "$base/rootfs" "$rootfs"

log "configuring guest"
sed -i 's/^SELINUX=.*/SELINUX=enforcing/' "$rootfs/etc/selinux/config"
sed -i 's/^SELINUXTYPE=.*/SELINUXTYPE=default/' "$rootfs/etc/selinux/config"
echo autobuild-vm >"$rootfs/etc/hostname"
echo '/dev/vda / ext4 rw,relatime 0 1' >"$rootfs/etc/fstab"
install -m 0755 "$here/guest/autobuild-vm-run" "$rootfs/usr/local/sbin/autobuild-vm-run"
install -m 0644 "$here/guest/autobuild-vm.service" "$rootfs/etc/systemd/system/autobuild-vm.service"
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/autobuild-vm.service "$rootfs/etc/systemd/system/multi-user.target.wants/autobuild-vm.service"
for unit in serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service apt-daily.timer \
	apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer; do
	ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
mkdir -p "$rootfs/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$rootfs/etc/systemd/journald.conf.d/volatile.conf"
# Build steps run as uids 200000+ that have no passwd entry; git refuses
# repositories owned by someone else unless told otherwise.
printf '[safe]\n\tdirectory = *\n' >"$rootfs/etc/gitconfig"

log "compiling and installing the autobuild policy module (offline, in the chroot)"
mkdir -p "$rootfs/tmp/autobuild-policy"
cp "$root"/policy/selinux/autobuild.{te,fc,if} "$rootfs/tmp/autobuild-policy/"
chroot "$rootfs" make -s -f /usr/share/selinux/devel/Makefile -C /tmp/autobuild-policy autobuild.pp ||
	die "policy module does not compile in the guest tree"
chroot "$rootfs" semodule -i /tmp/autobuild-policy/autobuild.pp 2>&1 | grep -v 'user sddm not in password file' || true
chroot "$rootfs" semodule -l | grep -qx autobuild || die "semodule did not install the autobuild module"
rm -rf "$rootfs/tmp/autobuild-policy"

log "labelling the tree (setfiles in the chroot, /proc mounted for libselinux)"
mount -t proc proc "$rootfs/proc"
chroot "$rootfs" setfiles -F /etc/selinux/default/contexts/files/file_contexts /
umount "$rootfs/proc"
chroot "$rootfs" chcon system_u:object_r:proc_t:s0 /proc

log "kernel, initrd and ext4 image"
mkdir -p "$out.new"
cp "$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -1)" "$out.new/vmlinuz"
cp "$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -1)" "$out.new/initrd.img"
truncate -s "$IMAGE_SIZE" "$out.new/image.raw"
mkfs.ext4 -q -F -L autobuild-vm -I 256 -d "$rootfs" "$out.new/image.raw"
label=$(debugfs -R 'ea_get /usr/bin/cat security.selinux' "$out.new/image.raw" 2>/dev/null | tr -d '\0')
case "$label" in
*bin_t*) log "label of /usr/bin/cat in the image: $label" ;;
*) rm -rf "$out.new"; die "labelling failed: security.selinux of /usr/bin/cat is '$label'" ;;
esac
rm -rf "$out"
mv "$out.new" "$out"
log "image ready in $out ($(( $(date +%s) - start ))s total, base stage ${t_base}s)"
