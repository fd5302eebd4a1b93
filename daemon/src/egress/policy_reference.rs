//! A naive reference for the matcher: the same contract written the slow, obvious way (names
//! compared as lists of labels, criteria re-checked from scratch). The proptest and the fuzz
//! target compare [`super::decide`] with it. Pure `std`.

use super::*;

/// The reference: the same contract written the slow, obvious way (labels compared as lists).
pub fn reference(rules: &[Rule], target: &Target<'_>) -> Decision {
    let host_ok = |pattern: &HostPattern| -> bool {
        match (pattern, target.host) {
            (HostPattern::Ip(a), TargetHost::Ip(b)) => a == &b,
            (HostPattern::Exact(want), TargetHost::Domain(got)) => {
                let got: Vec<&str> = got.split('.').collect();
                let got = match got.split_last() {
                    Some((&"", rest)) => rest.to_vec(),
                    _ => got,
                };
                got == want.split('.').collect::<Vec<_>>()
            }
            (HostPattern::Below(suffix), TargetHost::Domain(got)) => {
                let mut got: Vec<&str> = got.split('.').collect();
                if got.last() == Some(&"") {
                    got.pop();
                }
                let want: Vec<&str> = suffix.split('.').collect();
                got.len() > want.len()
                    && got[got.len() - want.len()..] == want[..]
                    && !got[..got.len() - want.len()].join(".").is_empty()
            }
            _ => false,
        }
    };
    if rules.is_empty() {
        return Decision::Denied(Denial::NoRules);
    }
    for (i, r) in rules.iter().enumerate() {
        if host_ok(&r.host)
            && r.ports.as_ref().is_none_or(|p| p.contains(&target.port))
            && r.methods
                .as_ref()
                .is_none_or(|m| m.iter().any(|m| m == target.method))
            && r.path_prefix
                .as_ref()
                .is_none_or(|p| target.path.len() >= p.len() && &target.path[..p.len()] == p)
        {
            return Decision::Allowed(i);
        }
    }
    for r in rules {
        if host_ok(&r.host) {
            return Decision::Denied(
                if !r.ports.as_ref().is_none_or(|p| p.contains(&target.port)) {
                    Denial::Port
                } else if !r
                    .methods
                    .as_ref()
                    .is_none_or(|m| m.iter().any(|m| m == target.method))
                {
                    Denial::Method
                } else {
                    Denial::Path
                },
            );
        }
    }
    Decision::Denied(Denial::Host)
}
