#!/usr/bin/env bash
# Runs the stockade-mpk test binaries inside a QEMU guest whose emulated CPU
# has protection keys (TCG, `-cpu max`: PKU + OSPKE), under Debian's stock
# kernel (CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS=y).
#
# Why: the fault tests must run on a CPU with PKU. Hosts whose CPU (or
# hypervisor) hides PKU, like the Firecracker VMs this project is developed
# on, would only skip them. In the guest they run for real: real kernel,
# real pkey_alloc/pkey_mprotect, real SEGV_PKUERR faults; only the CPU is
# emulated. STOCKADE_MPK_REQUIRE=1 is set in the guest, so a guest without
# working pkeys fails instead of skipping.
#
# Needs: qemu-system-x86_64, a /boot/vmlinuz-*, busybox (static), cpio, gzip.
# As root with apt-get, missing Debian packages are installed
# (qemu-system-x86 linux-image-amd64 busybox-static cpio).
#
# Usage: mpk/tests/qemu/run-in-vm.sh            run the crate's tests
#        mpk/tests/qemu/run-in-vm.sh --bench    run benches/benches/mpk.rs
#            (functional check only: TCG timings say nothing about real
#            hardware, WRPKRU and page-table updates are emulated)
# Exit status: 0 iff every binary exited 0 in the guest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
mode=test
[[ "${1:-}" == "--bench" ]] && mode=bench

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' >/dev/null || need+=(linux-image-amd64)
[[ -x /bin/busybox ]] && file_out=$(ldd /bin/busybox 2>&1 || true) || file_out=missing
[[ "$file_out" == *"not a dynamic executable"* ]] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "installing: ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "missing Debian packages: ${need[*]}" >&2
        exit 2
    fi
fi
kernel=$(ls -1 /boot/vmlinuz-* | sort -V | tail -n1)

cd "$repo"
if [[ $mode == test ]]; then
    build=(cargo test -p stockade-mpk --no-run --message-format=json)
    run_args="--test-threads=2"
else
    build=(cargo bench -p stockade-benches --bench mpk --no-run --message-format=json)
    run_args="--bench --warm-up-time 1 --measurement-time 3"
fi
mapfile -t exes < <("${build[@]}" 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test) | .executable')
((${#exes[@]})) || { echo "no test binaries built" >&2; exit 1; }

work=$(mktemp -d /tmp/stockade-mpk-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,t}
cp /bin/busybox "$root/bin/busybox"
copy_with_libs() {
    cp "$1" "$2"
    ldd "$1" | grep -o '/[^ ]*' | while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
names=()
for exe in "${exes[@]}"; do
    name=$(basename "$exe" | sed 's/-[0-9a-f]\{16\}$//')
    copy_with_libs "$exe" "$root/t/$name"
    names+=("$name")
done

cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
export STOCKADE_MPK_REQUIRE=1 RUST_BACKTRACE=1 TMPDIR=/tmp
echo "guest cpu flags: \$(grep -o -w -e pku -e ospke /proc/cpuinfo | sort -u | tr '\n' ' ')"
for t in ${names[*]}; do
    echo "=== running \$t"
    (cd /tmp && /t/\$t $run_args)
    echo "MPK-VM-RESULT \$t \$?"
done
for f in \$(find /tmp/target/criterion -path '*/new/estimates.json' 2>/dev/null); do
    ns=\$(sed -n 's/.*"median":{"confidence_interval":{[^}]*},"point_estimate":\([0-9.e+-]*\).*/\1/p' \$f)
    echo "MEDIAN \${f#/tmp/target/criterion/} \$ns ns"
done
echo MPK-VM-DONE
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initramfs.gz"

log=$work/console.log
echo "booting $kernel under QEMU TCG (-cpu max) with ${#names[@]} test binaries"
timeout 900 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
    -nographic -no-reboot -kernel "$kernel" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1" </dev/null 2>&1 |
    tr -d '\r' | tee "$log" | grep -v -e '^\[' -e 'iPXE' -e 'Booting from' || true

grep -q '^MPK-VM-DONE' "$log" || { echo "guest did not finish" >&2; exit 1; }
grep -q 'guest cpu flags: .*ospke' "$log" || { echo "guest has no OSPKE" >&2; exit 1; }
passed=0 failed=0
for name in "${names[@]}"; do
    rc=$(sed -n "s/^MPK-VM-RESULT $name \([0-9]*\)$/\1/p" "$log")
    if [[ "$rc" == 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED in guest: $name (rc=${rc:-none})"; fi
done
echo "mpk-vm: $passed passed, $failed failed"
((failed == 0))
