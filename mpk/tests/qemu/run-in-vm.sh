#!/usr/bin/env bash
# Runs everything MPK-related inside a QEMU guest whose emulated CPU has protection keys (TCG,
# `-cpu max`: PKU + OSPKE), under Debian's stock kernel (CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS=y):
#   - the stockade-mpk tests (detection, pool, guard, faults);
#   - the engine's MPK tests, built with the test-only `mpk-attack` feature: key wiring, the
#     cross-isolate attack (SEGV_PKUERR), page tagging vs the kernel's smaps, PKRU in calls;
#   - with --fuzz SECONDS, also the `mpk_isolates` fuzz target (needs cargo-fuzz + nightly);
#   - not MPK, but needing a real kernel the same way: the daemon's cgroup v2 memory cap test
#     (`daemon/src/supervisor/memory_cap/v2_real.rs`), on a cgroup2 hierarchy the guest mounts,
#     in a group of its own as under systemd's `Delegate=yes` (the development hosts are cgroup v1).
#
# Why: these tests must run on a CPU with PKU. Hosts whose CPU (or hypervisor) hides PKU, like
# the Firecracker VMs this project is developed on, would only skip them. In the guest they run
# for real: real kernel, real pkey_alloc/pkey_mprotect, real SEGV_PKUERR faults; only the CPU is
# emulated. STOCKADE_MPK_REQUIRE=1 is set in the guest, so a guest without working pkeys fails
# the tests instead of skipping them; likewise STOCKADE_CGROUP2_REQUIRE=1 for the cgroup test.
#
# Needs: qemu-system-x86_64, a /boot/vmlinuz-*, busybox (static), cpio, gzip, jq, strip.
# As root with apt-get, missing Debian packages are installed
# (qemu-system-x86 linux-image-amd64 busybox-static cpio jq binutils).
#
# Usage: mpk/tests/qemu/run-in-vm.sh                 the tests (mpk crate + engine MPK tests +
#                                                     the cgroup v2 test)
#        mpk/tests/qemu/run-in-vm.sh --fuzz 120      the tests, then 120 s of the fuzz target
#        mpk/tests/qemu/run-in-vm.sh --bench         benches mpk.rs and mpk_isolate.rs
#            (TCG timings say nothing about real hardware: WRPKRU and page-table updates are
#            emulated; report ratios, not absolute numbers)
# Output ends with `mpk-vm: <N> passed, <M> failed` (tests counted one by one; a binary that
# fails without a libtest summary, or the fuzz run, counts as one).
# Exit status: 0 iff every binary exited 0 in the guest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
mode=test
fuzz_seconds=0
while (($#)); do
    case "$1" in
    --bench) mode=bench ;;
    --fuzz)
        fuzz_seconds=${2:?--fuzz needs a number of seconds}
        shift
        ;;
    *)
        echo "unknown argument: $1" >&2
        exit 2
        ;;
    esac
    shift
done

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' >/dev/null || need+=(linux-image-amd64)
[[ -x /bin/busybox ]] && file_out=$(ldd /bin/busybox 2>&1 || true) || file_out=missing
[[ "$file_out" == *"not a dynamic executable"* ]] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v jq >/dev/null || need+=(jq)
command -v strip >/dev/null || need+=(binutils)
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
# Test/bench executables of a cargo build, from its JSON messages.
executables() {
    "$@" --message-format=json 2>/dev/null |
        jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test) | .executable'
}
exes=()
# The daemon's unit tests, of which the guest runs the real cgroup v2 test only ($cgroup_filter).
cgroup_exe=
cgroup_filter=supervisor::memory_cap::v2_real::
if [[ $mode == test ]]; then
    mapfile -t -O "${#exes[@]}" exes < <(executables cargo test -p stockade-mpk --no-run)
    mapfile -t -O "${#exes[@]}" exes < <(executables cargo test -p stockade-isolate \
        --features mpk-attack --no-run --test mpk_wiring --test mpk_attack --test mpk_tagging \
        --test mpk_page_pool)
    # pkru_writers scans the source tree, which the guest does not have; the host runs it
    # (cargo test --workspace).
    mapfile -t exes < <(printf '%s\n' "${exes[@]}" | grep -v '/pkru_writers-')
    run_args="--test-threads=2"
    cgroup_exe=$(executables cargo test -p stockade --bins --no-run | tail -n1)
    [[ -n $cgroup_exe ]] || { echo "the daemon's unit tests did not build" >&2; exit 1; }
else
    mapfile -t -O "${#exes[@]}" exes < <(executables cargo bench -p stockade-benches \
        --bench mpk --bench mpk_isolate --no-run)
    run_args="--bench --warm-up-time 1 --measurement-time 3"
fi
((${#exes[@]})) || { echo "no test binaries built" >&2; exit 1; }

fuzz_exe=
if ((fuzz_seconds > 0)); then
    if ! cargo fuzz --help >/dev/null 2>&1; then
        echo "--fuzz needs cargo-fuzz (cargo install cargo-fuzz) and a nightly toolchain" >&2
        exit 2
    fi
    # No sanitizer: libnode is not instrumented, and the target checks its own invariants.
    (cd fuzz && cargo +nightly fuzz build -s none --features mpk mpk_isolates >&2)
    fuzz_exe=$(ls -1 fuzz/target/x86_64-unknown-linux-gnu/release/mpk_isolates)
fi

work=$(mktemp -d /tmp/stockade-mpk-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,t}
cp /bin/busybox "$root/bin/busybox"
# Copies an executable (without debug info: the guest's RAM holds the whole initramfs), its
# program interpreter (the V8 runtime root's loader) and every shared library that loader lists
# for it (libnode.so.137, the root's libc and libstdc++, libicu*, libssl, ...), at the same
# absolute paths, so PT_INTERP and RPATHs resolve in the guest as on the host.
copy_with_libs() {
    strip --strip-debug -o "$2" "$1"
    interp=$(readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    { echo "$interp"; "${interp:-/lib64/ld-linux-x86-64.so.2}" --list "$1"; } | grep -o '/[^ ]*' | while read -r lib; do
        [[ -e "$root$lib" ]] && continue
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
cgroup_name=
if [[ -n $cgroup_exe ]]; then
    cgroup_name=daemon_cgroup2
    copy_with_libs "$cgroup_exe" "$root/t/$cgroup_name"
fi
if [[ -n $fuzz_exe ]]; then
    copy_with_libs "$fuzz_exe" "$root/t/fuzz_mpk_isolates"
    mkdir -p "$root/corpus"
    cp fuzz/corpus/mpk_isolates/* "$root/corpus/" 2>/dev/null || true
    # Seeds (ops are 3 bytes: op, x, y; see the target): two keyed isolates reading each other,
    # keyed + unkeyed with buffers and GC, five isolates with drops.
    printf '\x00\x01\x00\x00\x01\x00\x04\x01\x07\x05\x00\x01\x05\x01\x00\x07\x00\x00' >"$root/corpus/seed-cross"
    printf '\x00\x01\x00\x00\x04\x00\x03\x00\x08\x02\x00\x03\x04\x00\x01\x04\x01\x02\x05\x01\x00\x06\x00\x01' >"$root/corpus/seed-unkeyed"
    printf '\x00\x01\x00\x00\x02\x00\x00\x03\x00\x00\x05\x00\x04\x02\x01\x02\x02\x05\x05\x00\x02\x01\x01\x00\x05\x03\x02' >"$root/corpus/seed-five"
fi

cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# cgroup v2 with the memory controller available below the root (the MPK tests stay in the root).
mount -t cgroup2 none /sys/fs/cgroup && echo +memory >/sys/fs/cgroup/cgroup.subtree_control
# /tmp stays the initramfs's own (writable) folder: a tmpfs over it would hide the V8 runtime
# root when its cache lives under /tmp.
export STOCKADE_MPK_REQUIRE=1 RUST_BACKTRACE=1 TMPDIR=/tmp HOME=/tmp
echo "guest cpu flags: \$(grep -o -w -e pku -e ospke /proc/cpuinfo | sort -u | tr '\n' ' ')"
for t in ${names[*]}; do
    echo "=== running \$t"
    start=\$(cut -d. -f1 /proc/uptime)
    (cd /tmp && /t/\$t $run_args)
    rc=\$?
    echo "MPK-VM-RESULT \$t \$rc \$((\$(cut -d. -f1 /proc/uptime) - start))s"
done
if [ -f /t/$cgroup_name ]; then
    # Its own group, holding only it, like a daemon under systemd's Delegate=yes: the daemon's
    # code moves itself into a leaf to enable the memory controller for its children.
    echo "=== running $cgroup_name"
    start=\$(cut -d. -f1 /proc/uptime)
    mkdir -p /sys/fs/cgroup/stockade.service
    (echo 0 >/sys/fs/cgroup/stockade.service/cgroup.procs && cd /tmp &&
        STOCKADE_CGROUP2_REQUIRE=1 exec /t/$cgroup_name $cgroup_filter --test-threads=2 --nocapture)
    echo "MPK-VM-RESULT $cgroup_name \$? \$((\$(cut -d. -f1 /proc/uptime) - start))s"
fi
if [ -x /t/fuzz_mpk_isolates ]; then
    echo "=== running fuzz_mpk_isolates for ${fuzz_seconds}s"
    mkdir -p /tmp/corpus && cp /corpus/* /tmp/corpus/ 2>/dev/null
    (cd /tmp && /t/fuzz_mpk_isolates -max_total_time=${fuzz_seconds} -rss_limit_mb=1536 /tmp/corpus 2>&1 | grep -v -e '^#[0-9]*.*\(pulse\|NEW\|REDUCE\)')
    echo "MPK-VM-RESULT fuzz_mpk_isolates \$? ${fuzz_seconds}s"
fi
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
echo "booting $kernel under QEMU TCG (-cpu max) with ${#names[@]} test binaries${cgroup_name:+ + $cgroup_name}"
timeout 3600 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 3072 \
    -nographic -no-reboot -kernel "$kernel" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1" </dev/null 2>&1 |
    tr -d '\r' | tee "$log" | grep -v -e '^\[' -e 'iPXE' -e 'Booting from' || true

grep -q '^MPK-VM-DONE' "$log" || { echo "guest did not finish" >&2; exit 1; }
grep -q 'guest cpu flags: .*ospke' "$log" || { echo "guest has no OSPKE" >&2; exit 1; }
passed=0 failed=0 bad=0
[[ -n $cgroup_name ]] && names+=("$cgroup_name")
[[ -n $fuzz_exe ]] && names+=(fuzz_mpk_isolates)
for name in "${names[@]}"; do
    rc=$(sed -n "s/^MPK-VM-RESULT $name \([0-9]*\) .*$/\1/p" "$log")
    # The libtest summary of this binary's own section (children print theirs on stdout too,
    # but only the parent's comes right before its MPK-VM-RESULT line).
    summary=$(sed -n "/^=== running $name\$/,/^MPK-VM-RESULT $name /p" "$log" |
        grep -E '^test result: ' | tail -n1 || true)
    p=$(sed -n 's/.* \([0-9]*\) passed;.*/\1/p' <<<"$summary")
    f=$(sed -n 's/.* \([0-9]*\) failed;.*/\1/p' <<<"$summary")
    if [[ -z $summary ]]; then
        # No libtest summary (the fuzz run, or a crash): the binary counts as one test.
        if [[ "$rc" == 0 ]]; then p=1 f=0; else p=0 f=1; fi
    elif [[ "$rc" != 0 && "${f:-0}" == 0 ]]; then
        f=1
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [[ "$rc" != 0 ]]; then
        bad=1
        echo "FAILED in guest: $name (rc=${rc:-none})"
    fi
done
echo "mpk-vm: $passed passed, $failed failed"
((bad == 0 && failed == 0))
