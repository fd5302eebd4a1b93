//! Step 6: a Landlock domain that handles every right and grants none.
//!
//! Guarantees: every filesystem access right, TCP (and, from ABI 10, UDP)
//! bind/connect, and the abstract-Unix-socket and signal scopes that the
//! landlock crate knows are requested, best effort, with zero rules: all of
//! it is denied. The returned [`LandlockReport`] says what the kernel really
//! enforces — the ABI is `min(kernel, requested)` and `None` when nothing is
//! enforced; `all_threads` is read from the restriction status, not assumed.
//! A Landlock domain also forbids `mount`/`pivot_root`/`umount` and ptrace
//! of processes outside it.
//!
//! Trusts: the landlock crate's compatibility logic and the kernel.

use landlock::{
    Access, AccessFs, AccessNet, LandlockStatus, RestrictSelfAttr, Ruleset, RulesetAttr,
    RulesetStatus, Scope, ABI,
};

use crate::config::{LandlockEnforcement, LandlockReport};
use crate::error::JailError;

/// The newest ABI the landlock crate (0.4.8) knows.
const REQUESTED: ABI = ABI::V10;

/// Restricts the process (all threads from ABI 8, else the calling thread).
pub(crate) fn restrict_everything() -> Result<LandlockReport, JailError> {
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(REQUESTED))
        .and_then(|r| r.handle_access(AccessNet::from_all(REQUESTED)))
        .and_then(|r| r.scope(Scope::from_all(REQUESTED)))
        .and_then(|r| r.create())
        .and_then(|r| r.all_threads(true))
        .and_then(|r| r.restrict_self())
        .map_err(JailError::Landlock)?;

    let kernel_abi = match status.landlock {
        LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        } => Some(kernel_abi.map_or(effective_abi as u32, |v| v as u32)),
        LandlockStatus::NotEnabled | LandlockStatus::NotImplemented => None,
    };
    let enforcement = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockEnforcement::Full,
        RulesetStatus::PartiallyEnforced => LandlockEnforcement::Partial,
        RulesetStatus::NotEnforced => LandlockEnforcement::None,
    };
    let requested_abi = REQUESTED as u32;
    let enforced_abi = match enforcement {
        LandlockEnforcement::None => None,
        _ => kernel_abi.map(|k| k.min(requested_abi)),
    };
    Ok(LandlockReport {
        enforcement,
        kernel_abi,
        enforced_abi,
        requested_abi,
        all_threads: status.all_threads && enforcement != LandlockEnforcement::None,
    })
}
