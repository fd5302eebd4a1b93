//! The pool's risk API: a tenant's code features (signals from its code's text), its risk
//! report, the operator's pin, and its history restored at start and persisted on change.
//! Guarantees: a change re-places the tenant at once (its effects applied, as a job's are);
//! a restored history is decayed by the time that passed. Trusts: the cordon's arithmetic.

use super::*;

impl Pool {
    /// Sets the code features of `tenant`'s loaded workers (risk signals).
    pub fn set_code_features(&self, tenant: &str, features: CodeFeatures) {
        let inner = &self.inner;
        let Some(id) = inner.tenants.id(tenant) else {
            return;
        };
        let Some(profile) = inner.tenants.profile(id, features) else {
            return;
        };
        let mut effects = Vec::new();
        inner
            .lock()
            .set_profile(id, profile, inner.clock.now(), &mut effects);
        inner.spawn_effects(effects);
    }

    /// `tenant`'s risk report now; `None` for an unknown tenant.
    pub fn risk(&self, tenant: &str) -> Option<RiskReport> {
        let id = self.inner.tenants.id(tenant)?;
        self.inner
            .lock()
            .cordon
            .risk_report(id, self.inner.clock.now())
            .ok()
    }

    /// Sets or clears the operator's override of `tenant`; its report afterwards, `None` for
    /// an unknown tenant.
    pub fn set_override(&self, tenant: &str, pin: Option<Override>) -> Option<RiskReport> {
        let inner = &self.inner;
        let id = inner.tenants.id(tenant)?;
        let now = inner.clock.now();
        let mut effects = Vec::new();
        let report = {
            let mut state = inner.lock();
            state.set_override(id, pin, now, &mut effects).ok()?;
            state.cordon.risk_report(id, now).ok()
        };
        inner.spawn_effects(effects);
        report
    }

    /// Restores `tenant`'s risk history and pin from a snapshot taken at Unix ms `taken_ms`
    /// (time since then decays it as if this daemon had run); false for an unknown tenant or a
    /// snapshot not understood, which changes nothing.
    pub fn restore_history(&self, tenant: &str, snapshot: &TenantSnapshot, taken_ms: u64) -> bool {
        let inner = &self.inner;
        let Some(id) = inner.tenants.id(tenant) else {
            return false;
        };
        let now = inner.clock.now();
        let mut effects = Vec::new();
        let restored = {
            let mut state = inner.lock();
            match state
                .cordon
                .restore(id, snapshot, now.0.saturating_sub(taken_ms), now)
            {
                Ok(drain) => {
                    state.drained(drain, &mut effects);
                    true
                }
                Err(e) => {
                    tracing::warn!("the stored risk history of {tenant} is not used: {e}");
                    false
                }
            }
        };
        inner.spawn_effects(effects);
        restored
    }

    /// From now on, sends every tenant's risk history to `sink` whenever it changes (a signal
    /// recorded, a death, an operator pin); once.
    pub fn persist_history(&self, sink: HistorySink) {
        let _ = self.inner.history_sink.set(sink);
    }
}
