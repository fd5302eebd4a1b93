//! One hop's admission and its audit: the scheme, the tenant's allow rules (first match wins)
//! and, for an IP literal, the address policy, each refusal audited with the reason; and the
//! audit line of a hop that was allowed but failed. Names go through the checked resolver when
//! the client connects (`resolver`), not here.
//!
//! Guarantees: every refusal is audited before it is returned; every value injected so far in
//! the chain is scrubbed from the audited host, path and reason. Trusts: the rules as compiled
//! (`policy`).

use reqwest::Method;
use url::{Host, Url};

use super::*;
use crate::egress::audit::now_ms;
use crate::egress::policy::{decide, Decision, Target, TargetHost};

impl Gateway {
    /// Checks one hop against the scheme, the tenant's rules and (for an IP literal) the address
    /// policy; audits a refusal. The matching rule's index and the hop's record.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn admit(
        &self,
        index: usize,
        worker: Option<&str>,
        rules: &TenantRules,
        method: &Method,
        url: &Url,
        bytes_out: usize,
        injected: &[SecretValue],
    ) -> Result<(usize, Record), FetchError> {
        let host = url.host();
        let port = url.port_or_known_default().unwrap_or(0);
        let mut record = Record {
            at_ms: now_ms(),
            tenant: rules.name.clone(),
            worker: worker.map(str::to_owned),
            method: method.as_str().to_owned(),
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or("").to_owned(),
            port,
            path: url.path().to_owned(),
            rule: None,
            verdict: "denied",
            reason: None,
            status: None,
            bytes_out: bytes_out as u64,
            bytes_in: 0,
            ms: 0,
            queued_ms: 0,
        };
        let refuse = |mut record: Record, error: FetchError| {
            record.reason = Some(error.to_string());
            self.log(index, record, injected);
            Err(error)
        };
        if !matches!(url.scheme(), "http" | "https") {
            return refuse(record, FetchError::Scheme(url.scheme().to_owned()));
        }
        let target_host = match host {
            Some(Host::Domain(d)) => TargetHost::Domain(d),
            Some(Host::Ipv4(ip)) => TargetHost::Ip(ip.into()),
            Some(Host::Ipv6(ip)) => TargetHost::Ip(ip.into()),
            None => return refuse(record, FetchError::BadUrl("no host".into())),
        };
        let target = Target {
            host: target_host,
            port,
            method: method.as_str(),
            path: url.path(),
        };
        let rule = match decide(&rules.rules, &target) {
            Decision::Allowed(rule) => rule,
            Decision::Denied(denial) => {
                let error = FetchError::Denied {
                    host: record.host.clone(),
                    port,
                    reason: denial.reason(),
                };
                return refuse(record, error);
            }
        };
        record.rule = Some(rule);
        if let TargetHost::Ip(ip) = target_host {
            if let Err(refused) = self.addresses.check(ip) {
                let host = record.host.clone();
                return refuse(record, FetchError::Refused { host, refused });
            }
        }
        record.verdict = "allowed";
        Ok((rule, record))
    }

    /// Audits `record`, with every value injected so far in the chain scrubbed from its host,
    /// path and reason (a redirect may have put one in the URL).
    pub(super) fn log(&self, index: usize, mut record: Record, injected: &[SecretValue]) {
        if !injected.is_empty() {
            record.host = scrub_str(&record.host, injected);
            record.path = scrub_str(&record.path, injected);
            record.reason = record.reason.map(|r| scrub_str(&r, injected));
        }
        self.audit.record(index, record);
    }

    /// Audits a hop that was allowed but failed (or was refused at resolution); the error.
    pub(super) fn fail(
        &self,
        index: usize,
        hop: Hop,
        error: FetchError,
        injected: &[SecretValue],
    ) -> FetchError {
        let mut record = hop.record;
        if matches!(error, FetchError::Refused { .. }) {
            record.verdict = "denied";
        }
        record.reason = Some(error.to_string());
        record.ms = hop.started.elapsed().as_millis() as u64;
        self.log(index, record, injected);
        error
    }
}
