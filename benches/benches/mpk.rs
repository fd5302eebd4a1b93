//! Costs of the MPK primitives: RDPKRU, WRPKRU, a `PkeyGuard` enter+exit
//! (one RDPKRU + two WRPKRU), and `pkey_mprotect` re-tagging 4 KiB and 2 MiB
//! of populated 4 KiB pages (alternating between two keys, so every call
//! really changes the key).
//!
//! `mprotect_baseline` (pkey_mprotect with key -1, i.e. plain mprotect,
//! alternating read-write/read-only over the same populated pages) runs
//! everywhere as the reference cost of rewriting the same PTEs.
//! On a machine without PKU the key benchmarks are not registered and the
//! reason is printed: there is nothing to measure.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use stockade_mpk::{pkru, protect, sys, KeyPool, PageProt, PkeyGuard};

const SIZES: [(&str, usize); 2] = [("4KiB", 4096), ("2MiB", 2 << 20)];

/// Anonymous read-write mapping of `len` bytes, every 4 KiB page touched so
/// the page tables are populated; transparent huge pages disabled.
fn populated(len: usize) -> *mut u8 {
    // SAFETY: anonymous private mapping at a kernel-chosen address.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: the range was just mapped; madvise only affects it.
    unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
    for off in (0..len).step_by(4096) {
        // SAFETY: `off < len`, the page is mapped read-write.
        unsafe { p.cast::<u8>().add(off).write_volatile(1) };
    }
    p.cast()
}

fn baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("mprotect_baseline");
    for (name, len) in SIZES {
        let p = populated(len);
        let mut flip = false;
        g.bench_function(name, |b| {
            b.iter(|| {
                // Alternate RW/R so every call really rewrites the PTEs (an
                // unchanged protection is a no-op fast path in the kernel).
                flip = !flip;
                let prot = if flip {
                    libc::PROT_READ
                } else {
                    libc::PROT_READ | libc::PROT_WRITE
                };
                // SAFETY: the bench owns the mapping and never touches it
                // here; key -1 keeps the key (plain mprotect).
                unsafe { sys::pkey_mprotect(p.cast(), len, prot, -1) }.expect("mprotect")
            })
        });
    }
    g.finish();
}

fn with_keys(c: &mut Criterion) {
    let status = stockade_mpk::status();
    if !status.is_available() {
        println!("mpk benches: key benchmarks NOT run: {status}");
        return;
    }
    let pool = KeyPool::allocate(2).expect("two keys");
    let (ka, kb) = (pool.keys()[0], pool.keys()[1]);

    c.bench_function("rdpkru", |b| {
        // SAFETY: status() is available, so OSPKE is set.
        b.iter(|| black_box(unsafe { pkru::read() }))
    });

    c.bench_function("wrpkru", |b| {
        // SAFETY: OSPKE is set (status available).
        let current = unsafe { pkru::read() };
        b.iter(|| {
            // SAFETY: OSPKE is set; writing back the current value changes
            // no permission. The crate keeps its own WRPKRU pub(crate), so
            // the bench issues the instruction itself.
            unsafe {
                std::arch::asm!("wrpkru", in("eax") black_box(current), in("ecx") 0, in("edx") 0,
                    options(nostack, preserves_flags));
            }
        })
    });

    c.bench_function("guard_enter_exit", |b| {
        b.iter(|| drop(black_box(PkeyGuard::enter(black_box(ka)))))
    });

    let mut g = c.benchmark_group("pkey_mprotect");
    for (name, len) in SIZES {
        let p = populated(len);
        let mut flip = false;
        g.bench_function(name, |b| {
            b.iter(|| {
                flip = !flip;
                let key = if flip { ka } else { kb };
                // SAFETY: the bench owns the mapping and never reads it.
                unsafe { protect(p, len, PageProt::READ_WRITE, key) }.expect("pkey_mprotect")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, with_keys, baseline);
criterion_main!(benches);
