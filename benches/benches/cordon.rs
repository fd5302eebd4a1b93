//! One placement decision in a cordon holding 10,000 tenants over 1,000
//! worker processes (goal: ≤ 10 µs).
//!
//! Setup: 16,000 tenants are placed into `Standard` processes of capacity 16
//! (exactly 1,000 processes, all full), then a pseudo-random 6,000 are
//! released and forgotten, leaving 10,000 tenants with uneven loads (mean 10)
//! across the 1,000 processes. The probe tenant carries some history so the
//! score is really computed (decay maths included) on every decision.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};
use stockade_cordon::{
    Cordon, CordonConfig, HistoryEvent, Millis, TenantId, TenantProfile, TierCapacity,
};

const PLACED: u64 = 16_000;
const KEPT: usize = 10_000;
const NOW: Millis = Millis(3_600_000);

fn populated() -> (Cordon, TenantId) {
    let capacity = TierCapacity {
        trusted: 64,
        standard: 16,
        untrusted: 8,
    };
    let mut cordon = Cordon::new(CordonConfig {
        capacity,
        ..CordonConfig::default()
    })
    .expect("valid config");
    let profile = TenantProfile {
        account_age_days: 365,
        ..TenantProfile::default()
    };
    let mut placed = Vec::new();
    for t in 0..PLACED {
        cordon.set_profile(TenantId(t), profile, Millis(0));
        let p = cordon.place(TenantId(t), Millis(0)).expect("registered");
        placed.push((TenantId(t), p.process));
    }
    // Deterministic shuffle (xorshift), then release and forget 6,000.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..placed.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        placed.swap(i, (state % (i as u64 + 1)) as usize);
    }
    for &(tenant, process) in &placed[KEPT..] {
        cordon.release(tenant, process).expect("hosted");
        cordon.forget(tenant).expect("no isolates left");
    }
    let probe = placed[0].0;
    cordon.release(probe, placed[0].1).expect("hosted");
    for (event, at) in [
        (HistoryEvent::CpuLimitHit, 0),
        (HistoryEvent::MemoryLimitHit, 600_000),
        (HistoryEvent::UncaughtCrash, 1_200_000),
        (HistoryEvent::WorkerDeath, 1_800_000),
    ] {
        cordon.record(probe, event, Millis(at)).expect("registered");
    }
    let m = cordon.metrics();
    assert_eq!(m.standard.processes, 1_000, "1,000 processes");
    assert_eq!(m.standard.tenants, KEPT, "10,000 tenants");
    (cordon, probe)
}

fn bench_place(c: &mut Criterion) {
    let (mut cordon, probe) = populated();
    let mut group = c.benchmark_group("cordon_10k_tenants_1k_processes");

    // The decision alone: a new isolate for a registered tenant. The untimed
    // release restores the state, so every iteration sees the same cordon.
    group.bench_function("place_new_isolate", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let placement = black_box(cordon.place(black_box(probe), NOW)).expect("registered");
                total += start.elapsed();
                cordon
                    .release(probe, placement.process)
                    .expect("just placed");
            }
            total
        });
    });

    group.bench_function("place_then_release", |b| {
        b.iter(|| {
            let placement = cordon.place(black_box(probe), NOW).expect("registered");
            cordon
                .release(probe, black_box(placement.process))
                .expect("just placed")
        });
    });

    let sticky = cordon.place(probe, NOW).expect("registered");
    group.bench_function("place_existing_isolate", |b| {
        b.iter(|| cordon.place(black_box(probe), NOW).expect("registered"));
    });
    cordon.release(probe, sticky.process).expect("placed above");

    group.bench_function("risk_report", |b| {
        b.iter(|| {
            cordon
                .risk_report(black_box(probe), NOW)
                .expect("registered")
        });
    });
    group.finish();
}

criterion_group!(benches, bench_place);
criterion_main!(benches);
