//! The egress allow-list matcher: pure, deterministic, no I/O, no dependency beyond `std` (the
//! fuzz target compiles this very file).
//!
//! Guarantees: deny by default (no rules, no network); the first rule whose host, port, method
//! and path all match wins, and the answer names it by index; a denial says which criterion the
//! first rule for that host failed (or that no rule names the host). Host patterns are an exact
//! DNS name (ASCII, lower case), an IP literal (compared as an address, so `::1` and
//! `0:0:0:0:0:0:0:1` are one), or `*.suffix` (any name with at least one more label; never the
//! suffix itself). One trailing dot of a target name is ignored (`example.com.` is
//! `example.com`).
//!
//! Trusts: its caller to hand it a target as the URL parser normalised it (lower-case ASCII or
//! punycode names, numeric IPv4 forms already turned into addresses, dot segments resolved in
//! the path) and an upper-case method. It does not trust rules: [`Rule::new`] checks them.

use std::net::IpAddr;

/// What a rule's `host` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// One DNS name, lower case, without a trailing dot.
    Exact(String),
    /// One address.
    Ip(IpAddr),
    /// `*.example.com`, kept as `example.com`: any name ending in `.example.com`.
    Below(String),
}

/// The host of a request, as the URL parser gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetHost<'a> {
    Domain(&'a str),
    Ip(IpAddr),
}

/// One outbound request, as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    pub host: TargetHost<'a>,
    pub port: u16,
    /// Upper case.
    pub method: &'a str,
    /// The URL's path, starting with `/`.
    pub path: &'a str,
}

/// One allow rule's criteria (what it injects is the gateway's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub host: HostPattern,
    pub ports: Option<Vec<u16>>,
    pub methods: Option<Vec<String>>,
    pub path_prefix: Option<String>,
}

/// Why a request is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The tenant has no egress rules at all.
    NoRules,
    /// No rule names this host.
    Host,
    /// The first rule naming the host does not allow this port.
    Port,
    /// ... this method.
    Method,
    /// ... this path.
    Path,
}

impl Denial {
    /// A short, stable reason (audit records and error messages).
    pub fn reason(self) -> &'static str {
        match self {
            Denial::NoRules => "no egress rules",
            Denial::Host => "host not allowed",
            Denial::Port => "port not allowed",
            Denial::Method => "method not allowed",
            Denial::Path => "path not allowed",
        }
    }
}

/// The matcher's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by the rule at this index.
    Allowed(usize),
    Denied(Denial),
}

/// A rule that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRule(pub String);

impl std::fmt::Display for BadRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRule {}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

impl HostPattern {
    /// Parses `api.example.com`, `*.example.com`, `203.0.113.7`, `::1` or `[::1]`.
    pub fn parse(text: &str) -> Result<HostPattern, BadRule> {
        let lower = text.trim_end_matches('.').to_ascii_lowercase();
        let unbracketed = lower
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(&lower);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip));
        }
        let bad = || {
            BadRule(format!(
                "host {text:?} is not a DNS name, an IP literal or *.name"
            ))
        };
        if let Some(suffix) = lower.strip_prefix("*.") {
            return if valid_name(suffix) {
                Ok(HostPattern::Below(suffix.to_owned()))
            } else {
                Err(bad())
            };
        }
        // A name all of digits and dots would be read as an IPv4 form by the URL parser.
        if valid_name(&lower) && !lower.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            Ok(HostPattern::Exact(lower))
        } else {
            Err(bad())
        }
    }

    fn matches(&self, host: TargetHost<'_>) -> bool {
        match (self, host) {
            (HostPattern::Ip(want), TargetHost::Ip(got)) => *want == got,
            (HostPattern::Exact(want), TargetHost::Domain(got)) => {
                got.strip_suffix('.').unwrap_or(got) == want
            }
            (HostPattern::Below(suffix), TargetHost::Domain(got)) => {
                let got = got.strip_suffix('.').unwrap_or(got);
                got.len() > suffix.len() + 1
                    && got.ends_with(suffix.as_str())
                    && got.as_bytes()[got.len() - suffix.len() - 1] == b'.'
            }
            _ => false,
        }
    }
}

impl Rule {
    /// A checked rule: ports 1-65535, methods upper-case tokens, a path prefix starting `/`.
    pub fn new(
        host: &str,
        ports: Option<Vec<u16>>,
        methods: Option<Vec<String>>,
        path_prefix: Option<String>,
    ) -> Result<Rule, BadRule> {
        let host = HostPattern::parse(host)?;
        if let Some(ports) = &ports {
            if ports.is_empty() || ports.contains(&0) {
                return Err(BadRule(
                    "ports must be 1 to 65535 (omit them for any)".into(),
                ));
            }
        }
        if let Some(methods) = &methods {
            if methods.is_empty()
                || methods.iter().any(|m| {
                    m.is_empty() || m.len() > 32 || !m.bytes().all(|b| b.is_ascii_uppercase())
                })
            {
                return Err(BadRule(
                    "methods must be upper-case names such as GET (omit them for any)".into(),
                ));
            }
        }
        if let Some(prefix) = &path_prefix {
            if !prefix.starts_with('/') || prefix.len() > 2048 {
                return Err(BadRule("path_prefix must start with /".into()));
            }
        }
        Ok(Rule {
            host,
            ports,
            methods,
            path_prefix,
        })
    }

    /// The first criterion this rule fails for `target`, or `None` when it allows it.
    fn failure(&self, target: &Target<'_>) -> Option<Denial> {
        if !self.host.matches(target.host) {
            return Some(Denial::Host);
        }
        if let Some(ports) = &self.ports {
            if !ports.contains(&target.port) {
                return Some(Denial::Port);
            }
        }
        if let Some(methods) = &self.methods {
            if !methods.iter().any(|m| m == target.method) {
                return Some(Denial::Method);
            }
        }
        if let Some(prefix) = &self.path_prefix {
            if !target.path.starts_with(prefix.as_str()) {
                return Some(Denial::Path);
            }
        }
        None
    }
}

/// The verdict of `rules` (in order) on `target`.
pub fn decide(rules: &[Rule], target: &Target<'_>) -> Decision {
    if rules.is_empty() {
        return Decision::Denied(Denial::NoRules);
    }
    let mut first_failure = None;
    for (i, rule) in rules.iter().enumerate() {
        match rule.failure(target) {
            None => return Decision::Allowed(i),
            Some(Denial::Host) => {}
            Some(other) => {
                first_failure.get_or_insert(other);
            }
        }
    }
    Decision::Denied(first_failure.unwrap_or(Denial::Host))
}

#[cfg(any(test, fuzzing))]
#[path = "policy_reference.rs"]
pub mod reference;

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
