//! Detection tells the truth: `status()` must agree with an independent
//! reading of CPUID leaf 7 and an independent raw `pkey_alloc` syscall, on
//! whatever machine runs it (with and without PKU). Without MPK, every entry
//! point that would claim protection refuses with the same reason.

use stockade_mpk::{KeyPool, MpkError, MpkStatus, PkeyGuard, UnavailableReason};

#[cfg(stockade_mpk_enabled)]
fn independent_view() -> MpkStatus {
    use std::arch::x86_64::__cpuid_count;
    if __cpuid_count(0, 0).eax < 7 {
        return MpkStatus::Unavailable(UnavailableReason::NoCpuidLeaf7);
    }
    let ecx = __cpuid_count(7, 0).ecx;
    if ecx & (1 << 3) == 0 {
        return MpkStatus::Unavailable(UnavailableReason::CpuLacksPku);
    }
    if ecx & (1 << 4) == 0 {
        return MpkStatus::Unavailable(UnavailableReason::OsDisabledPku);
    }
    // SAFETY: pkey_alloc(0, 0) takes integers only.
    let key = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0, 0) };
    if key < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return MpkStatus::Unavailable(UnavailableReason::KernelRefused { errno });
    }
    // SAFETY: nothing is tagged with the key allocated just above.
    unsafe { libc::syscall(libc::SYS_pkey_free, key) };
    MpkStatus::Available
}

#[test]
fn status_matches_cpuid_and_kernel() {
    let status = stockade_mpk::status();
    eprintln!("{status} [{}]", status.metric_label());
    #[cfg(not(stockade_mpk_enabled))]
    assert_eq!(
        status,
        MpkStatus::Unavailable(UnavailableReason::UnsupportedPlatform)
    );
    #[cfg(stockade_mpk_enabled)]
    assert_eq!(status, independent_view());
    assert_eq!(stockade_mpk::is_supported(), status.is_available());
}

#[test]
fn without_mpk_nothing_pretends() {
    let status = stockade_mpk::status();
    let Some(reason) = status.unavailable_reason() else {
        // With MPK the pool works; the rest is covered by pool.rs / fault.rs.
        #[cfg(stockade_mpk_enabled)]
        assert_eq!(
            KeyPool::allocate(1).expect("pool on an MPK machine").len(),
            1
        );
        return;
    };
    match KeyPool::allocate(15) {
        Err(MpkError::Unavailable(r)) => assert_eq!(r, reason),
        other => panic!("pool must refuse without MPK, got {other:?}"),
    }
    match PkeyGuard::enter_unrestricted() {
        Err(MpkError::Unavailable(r)) => assert_eq!(r, reason),
        other => panic!("guard must refuse without MPK, got {other:?}"),
    }
    assert!(!status.to_string().is_empty());
    assert_ne!(status.metric_label(), "available");
}
