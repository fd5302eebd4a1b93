//! Whether MPK protects this process, and if not, why.
//!
//! [`MpkStatus`] is what the daemon logs at start-up and exports as a metric.
//! It is computed once per process by [`crate::status`] from the CPU (CPUID)
//! and the kernel (`pkey_alloc`); nothing here is configurable, so the value
//! cannot claim protection that the hardware does not give.

use std::fmt;

/// Whether memory protection keys are usable in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpkStatus {
    /// CPU and kernel support PKU and the probe `pkey_alloc` succeeded.
    Available,
    /// MPK is not used; isolates share key 0 and are not separated by MPK.
    Unavailable(UnavailableReason),
}

/// Why MPK is unavailable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnavailableReason {
    /// Not x86_64 Linux (the only target this crate implements).
    UnsupportedPlatform,
    /// CPUID leaf 7 is not implemented by this CPU.
    NoCpuidLeaf7,
    /// CPUID.(EAX=7,ECX=0):ECX bit 3 (PKU) is clear: the CPU, or the
    /// hypervisor's view of it, has no protection keys.
    CpuLacksPku,
    /// The CPU has PKU but CPUID.7.0:ECX bit 4 (OSPKE) is clear: the kernel
    /// did not set CR4.PKE (built without `X86_INTEL_MEMORY_PROTECTION_KEYS`
    /// or booted with `nopku`).
    OsDisabledPku,
    /// CPUID says PKU is on but `pkey_alloc` failed with this errno
    /// (`ENOSPC`: every key already taken, `ENOSYS`: seccomp or an old kernel).
    KernelRefused {
        /// The `errno` returned by `pkey_alloc`.
        errno: i32,
    },
}

impl MpkStatus {
    /// True when keys can be allocated and PKRU switched.
    pub const fn is_available(self) -> bool {
        matches!(self, MpkStatus::Available)
    }

    /// The reason MPK is unavailable, `None` when it is available.
    pub const fn unavailable_reason(self) -> Option<UnavailableReason> {
        match self {
            MpkStatus::Available => None,
            MpkStatus::Unavailable(reason) => Some(reason),
        }
    }

    /// A stable, low-cardinality label for a metric such as
    /// `stockade_mpk_status{state="cpu_lacks_pku"} 1`.
    pub const fn metric_label(self) -> &'static str {
        match self {
            MpkStatus::Available => "available",
            MpkStatus::Unavailable(reason) => reason.metric_label(),
        }
    }
}

impl UnavailableReason {
    /// A stable metric label, see [`MpkStatus::metric_label`].
    pub const fn metric_label(self) -> &'static str {
        match self {
            UnavailableReason::UnsupportedPlatform => "unsupported_platform",
            UnavailableReason::NoCpuidLeaf7 => "no_cpuid_leaf7",
            UnavailableReason::CpuLacksPku => "cpu_lacks_pku",
            UnavailableReason::OsDisabledPku => "os_disabled_pku",
            UnavailableReason::KernelRefused { .. } => "kernel_refused",
        }
    }

    /// True when the hardware (or the kernel's configuration) lacks PKU, as
    /// opposed to a run-time refusal on a machine that has it. Tests skip only
    /// on this; a kernel refusal on PKU hardware is a failure.
    pub const fn is_missing_hardware_or_os_support(self) -> bool {
        !matches!(self, UnavailableReason::KernelRefused { .. })
    }
}

impl fmt::Display for UnavailableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnavailableReason::UnsupportedPlatform => {
                f.write_str(
                    "built without MPK (only x86_64 Linux has it; or STOCKADE_MPK_FORCE_DISABLED at build time)",
                )
            }
            UnavailableReason::NoCpuidLeaf7 => f.write_str("CPU has no CPUID leaf 7"),
            UnavailableReason::CpuLacksPku => {
                f.write_str("CPU (as seen by this kernel) lacks PKU: CPUID.7.0:ECX[3] is clear")
            }
            UnavailableReason::OsDisabledPku => f.write_str(
                "CPU has PKU but the kernel did not enable it: CPUID.7.0:ECX[4] (OSPKE) is clear",
            ),
            UnavailableReason::KernelRefused { errno } => write!(
                f,
                "pkey_alloc failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl fmt::Display for MpkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MpkStatus::Available => f.write_str("memory protection keys available"),
            MpkStatus::Unavailable(reason) => {
                write!(
                    f,
                    "memory protection keys unavailable ({reason}); isolates in one process are not separated by MPK"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let all = [
            MpkStatus::Available,
            MpkStatus::Unavailable(UnavailableReason::UnsupportedPlatform),
            MpkStatus::Unavailable(UnavailableReason::NoCpuidLeaf7),
            MpkStatus::Unavailable(UnavailableReason::CpuLacksPku),
            MpkStatus::Unavailable(UnavailableReason::OsDisabledPku),
            MpkStatus::Unavailable(UnavailableReason::KernelRefused { errno: 28 }),
        ];
        let mut labels: Vec<_> = all.iter().map(|s| s.metric_label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), all.len());
        assert!(all[0].is_available());
        assert!(all[1..].iter().all(|s| !s.is_available()));
    }

    #[test]
    fn kernel_refusal_is_not_missing_support() {
        assert!(!UnavailableReason::KernelRefused { errno: 28 }.is_missing_hardware_or_os_support());
        assert!(UnavailableReason::CpuLacksPku.is_missing_hardware_or_os_support());
        let text = MpkStatus::Unavailable(UnavailableReason::KernelRefused {
            errno: libc::ENOSPC,
        })
        .to_string();
        assert!(text.contains("pkey_alloc failed"), "{text}");
    }
}
