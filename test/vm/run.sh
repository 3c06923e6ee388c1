#!/bin/bash
# The SELinux VM test: boots a Debian 12 guest with Debian's kernel and
# reference policy in ENFORCING mode under QEMU (TCG), with the project's
# policy module baked in, and runs the engine's confinement checks there.
#
#   bash test/vm/run.sh            (from the project root, as root)
#
# Phases (timed): host deps -> policy compile check -> Go binaries ->
# image (cached) -> payload -> boot + test -> results.
# Exit status: 0 all checks passed; 1 a check failed; 2 setup error
# (deps, image build, Go build); 3 the guest never reported; 4 the guest
# was not enforcing. Never skips: a missing mirror is a failure.
#
# Environment:
#   AUTOBUILD_VM_CACHE  cache dir for the base rootfs and images
#                       (default /var/cache/autobuild-vm)
#   AUTOBUILD_VM_OUT    where the results go (default $CACHE/last-run)
#   GO                  go command (default /usr/local/go/bin/go, else go in PATH)
#   MEM=1024 SMP=2 TIMEOUT=900 (seconds for the whole boot+test) VERBOSE=1
#   MIRROR              Debian mirror for debootstrap (default: apt's)
#   AUTOBUILD_VM_KERNEL backports (default: bookworm-backports 6.12, Landlock
#                       ABI 6) or stable (bookworm 6.1, Landlock ABI 2)
#   AUTOBUILD_VM_DIAG=0 skip the permissive diagnostic reruns after failures
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CACHE=${AUTOBUILD_VM_CACHE:-/var/cache/autobuild-vm}
OUT=${AUTOBUILD_VM_OUT:-$CACHE/last-run}
MEM=${MEM:-1024}
SMP=${SMP:-2}
TIMEOUT=${TIMEOUT:-900}
export AUTOBUILD_VM_CACHE=$CACHE

t_all=$(date +%s.%N)
t_phase=$t_all
timings=()
phase_done() {
	local now
	now=$(date +%s.%N)
	timings+=("$(printf '%-22s %6.1fs' "$1" "$(awk "BEGIN{print $now-$t_phase}")")")
	echo "[test-vm $(date +%T)] phase '$1' done in $(awk "BEGIN{printf \"%.1f\", $now-$t_phase}")s"
	t_phase=$now
}
print_timings() {
	echo "== test/vm timings =="
	printf '  %s\n' "${timings[@]}"
	printf '  %-22s %6.1fs\n' total "$(awk "BEGIN{print $(date +%s.%N)-$t_all}")"
}
die() { echo "test-vm: FATAL: $*" >&2; print_timings; exit "${2:-2}"; }
log() { echo "[test-vm $(date +%T)] $*"; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, loop-free mkfs)"
mkdir -p "$CACHE"

# ---- 1. host dependencies ----
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
{ command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null; } || need+=(e2fsprogs)
[ -f /usr/share/selinux/devel/Makefile ] || need+=(selinux-policy-dev)
command -v make >/dev/null || need+=(make)
command -v checkmodule >/dev/null || need+=(checkpolicy)
command -v semodule_package >/dev/null || need+=(semodule-utils)
if [ ${#need[@]} -gt 0 ]; then
	log "installing host packages: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
phase_done host-deps

# ---- 2. policy compile check on the host ----
log "compiling policy/selinux on the host"
make -s -C "$root/policy/selinux" clean >/dev/null
make -s -C "$root/policy/selinux" >"$CACHE/policy-make.log" 2>&1 || { cat "$CACHE/policy-make.log"; die "policy/selinux does not compile"; }
make -s -C "$root/policy/selinux" clean >/dev/null
phase_done policy-compile

# ---- 3. Go binaries (static) ----
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=$(command -v go) || die "no Go toolchain (/usr/local/go/bin/go)"
stage=$(mktemp -d "$CACHE/payload.XXXXXX")
trap 'rm -rf "$stage"' EXIT
engine_err=""
log "building autobuild, autobuild-helper and the e2e test binary with $GO"
if ! (cd "$root" && CGO_ENABLED=0 "$GO" build -o "$stage/autobuild" ./cmd/autobuild) >"$stage/go-build.log" 2>&1; then
	sed 's/^/  go build: /' "$stage/go-build.log" | head -40 || true
	engine_err="go build ./cmd/autobuild failed"
	rm -f "$stage/autobuild"
fi
# The small sandbox helper every confined step starts as (installed beside
# the engine; without it the engine is its own helper).
if [ -d "$root/cmd/autobuild-helper" ] &&
	! (cd "$root" && CGO_ENABLED=0 "$GO" build -o "$stage/autobuild-helper" ./cmd/autobuild-helper) >"$stage/go-build-helper.log" 2>&1; then
	sed 's/^/  go build: /' "$stage/go-build-helper.log" | head -40 || true
	engine_err="${engine_err:+$engine_err; }go build ./cmd/autobuild-helper failed"
	rm -f "$stage/autobuild-helper"
fi
if ! (cd "$root" && CGO_ENABLED=0 "$GO" test -c -o "$stage/e2e.test" ./cmd/autobuild) >"$stage/go-test.log" 2>&1; then
	sed 's/^/  go test -c: /' "$stage/go-test.log" | head -40 || true
	engine_err="${engine_err:+$engine_err; }go test -c ./cmd/autobuild failed"
	rm -f "$stage/e2e.test"
fi
[ -f "$stage/e2e.test" ] || engine_err="${engine_err:+$engine_err; }no e2e test binary (./cmd/autobuild has no tests?)"
rm -f "$stage"/go-*.log
[ -z "$engine_err" ] || log "WARNING: $engine_err (the guest still runs the policy checks; the run will fail)"
phase_done go-build

# ---- 4. image (cached by a hash of its inputs) ----
key=$(cd "$here" && cat build-image.sh guest/* "$root"/policy/selinux/autobuild.te "$root"/policy/selinux/autobuild.if "$root"/policy/selinux/autobuild.fc | sha256sum | cut -c1-16)
img=$CACHE/image-$key
if [ -f "$img/image.raw" ] && [ -f "$img/vmlinuz" ] && [ -f "$img/initrd.img" ]; then
	log "reusing cached image $img"
else
	log "building image $img"
	bash "$here/build-image.sh" "$img" || die "image build failed (no Debian mirror? see above)"
	for d in "$CACHE"/image-*; do [ "$d" = "$img" ] || rm -rf "$d"; done
fi
phase_done image

# ---- 5. payload ----
install -m 0755 "$here/guest-check.sh" "$stage/run"
# mktemp -d makes the folder 0700, and tar carries that over to the guest's
# /usr/local/bin/ci: build steps (per-module uids) must be able to reach it.
chmod 0755 "$stage"
printf 'AUTOBUILD_VM_DIAG=%s\n' "${AUTOBUILD_VM_DIAG:-1}" >"$stage/vm.env"
tar -cf "$CACHE/payload.tar" -C "$stage" .
rm -f "$CACHE/results.img"
truncate -s 256M "$CACHE/results.img"
phase_done payload

# ---- 6. boot and test ----
append="console=ttyS0 root=/dev/vda rw security=selinux enforcing=1 panic=-1 log_buf_len=16M"
[ "${VERBOSE:-0}" = 1 ] || append="$append quiet loglevel=3 systemd.show_status=0"
accel=(-accel "tcg,thread=multi,tb-size=256")
if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
	accel=(-accel kvm -cpu host)  # real hardware virtualization only (PVM-backed kvm cannot run Debian's kernel)
fi
serial=$CACHE/serial.log
log "booting the guest (${accel[*]}, ${MEM} MiB, $SMP CPUs, timeout ${TIMEOUT}s)"
set +e
timeout --signal=KILL "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -display none \
	"${accel[@]}" -smp "$SMP" -m "$MEM" -no-reboot \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$append" \
	-drive "file=$img/image.raw,format=raw,if=virtio,snapshot=on" \
	-drive "file=$CACHE/payload.tar,format=raw,if=virtio,readonly=on" \
	-drive "file=$CACHE/results.img,format=raw,if=virtio" \
	-serial stdio </dev/null >"$serial" 2>&1
qrc=$?
set -e
phase_done boot-and-test

# ---- 7. results ----
rm -rf "$OUT"
mkdir -p "$OUT"
tar -xf "$CACHE/results.img" -C "$OUT" 2>/dev/null || log "no results tar on the results disk"
tr -d '\r' <"$serial" >"$OUT/serial.log"
{ grep -v '^AUTOBUILD-VM: avc: ' "$OUT/serial.log" | grep -E '^(AUTOBUILD-VM|CHECK|==|--)'; } || true
result=$(sed -n 's/^AUTOBUILD-VM-RESULT: rc=\([0-9]*\) enforcing=\([01]\).*/\1 \2/p' "$OUT/serial.log" | tail -1)
echo "== AVC denials in the guest (unique, $(grep -c 'avc: ' "$OUT/avc.txt" 2>/dev/null || echo 0) lines; full list in $OUT/avc.txt) =="
if [ -f "$OUT/avc.txt" ]; then
	# (no head here: with pipefail, SIGPIPE would end the script)
	sed -E 's/^\[[^]]*\] //; s/audit\([^)]*\): //; s/ pid=[0-9]+//; s/ ino=[0-9]+//; s/ dev="[^"]*"//; s/path="pipe:\[[0-9]*\]"/path=pipe/' "$OUT/avc.txt" |
		sort | uniq -c | sort -rn >"$OUT/avc-unique.txt" || true
	sed -n '1,80p' "$OUT/avc-unique.txt"
fi
echo "results: $OUT (serial.log, run.log, avc.txt, plan-*.json, engine logs)"
log "qemu exit=$qrc"
print_timings
if [ -z "$result" ]; then
	echo "test-vm: FAIL: the guest never reported a result (boot failure or timeout; VERBOSE=1 shows the boot)" >&2
	tail -30 "$OUT/serial.log" >&2
	exit 3
fi
read -r grc genf <<<"$result"
if [ "$genf" != 1 ]; then echo "test-vm: FAIL: the guest was NOT enforcing" >&2; exit 4; fi
if [ -n "$engine_err" ]; then echo "test-vm: FAIL: $engine_err" >&2; exit 2; fi
if [ "$grc" != 0 ]; then echo "test-vm: FAIL: guest checks failed (rc=$grc)" >&2; exit 1; fi
echo "test-vm: PASS (enforcing, all checks passed)"
