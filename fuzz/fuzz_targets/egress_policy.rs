//! Fuzzes the egress allow-rule matcher (`daemon/src/egress/policy.rs`, compiled here by path)
//! against its naive reference (`policy_reference.rs`).
//!
//! Checks, for every input: rules built from the bytes either are refused by `Rule::new` or
//! parse; `decide` never panics, and agrees with the reference on every target built from the
//! bytes (hosts drawn from a small alphabet of labels, wildcards, IP literals and raw text, so
//! that rules and targets collide often).

#![no_main]

#[path = "../../daemon/src/egress/policy.rs"]
#[allow(dead_code)]
mod policy;

use libfuzzer_sys::fuzz_target;
use policy::{decide, reference::reference, Rule, Target, TargetHost};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[usize::from(self.byte()) % from.len()]
    }

    fn text(&mut self) -> String {
        let len = usize::from(self.byte() % 12);
        (0..len)
            .map(|_| char::from(b"ab.-*0179:[]/xAB"[usize::from(self.byte() % 16)]))
            .collect()
    }
}

const LABELS: &[&str] = &["a", "b", "ab", "x-1", "0", ""];
const IPS: &[&str] = &["127.0.0.1", "10.0.0.1", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &["/", "/v1", "/v1/", "/v1/a", "/v2", ""];
const PORTS: &[u16] = &[80, 443, 8080, 9];

fn name(b: &mut Bytes<'_>) -> String {
    let n = 1 + usize::from(b.byte() % 3);
    (0..n).map(|_| b.pick(LABELS)).collect::<Vec<_>>().join(".")
}

fn host(b: &mut Bytes<'_>) -> String {
    match b.byte() % 5 {
        0 => format!("*.{}", name(b)),
        1 => b.pick(IPS).to_owned(),
        2 => b.text(),
        3 => format!("{}.", name(b)),
        _ => name(b),
    }
}

fn rule(b: &mut Bytes<'_>) -> Option<Rule> {
    let host = host(b);
    let ports = (b.byte() % 2 == 0).then(|| {
        (0..1 + b.byte() % 3)
            .map(|_| PORTS[usize::from(b.byte()) % PORTS.len()])
            .collect()
    });
    let methods = (b.byte() % 2 == 0).then(|| {
        (0..1 + b.byte() % 3)
            .map(|_| b.pick(METHODS).to_owned())
            .collect()
    });
    let prefix = (b.byte() % 2 == 0).then(|| b.pick(PATHS).to_owned());
    Rule::new(&host, ports, methods, prefix).ok()
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let rules: Vec<Rule> = (0..b.byte() % 6).filter_map(|_| rule(&mut b)).collect();
    while !b.0.is_empty() {
        let host = host(&mut b);
        let ip = host.parse();
        let target = Target {
            host: match &ip {
                Ok(ip) => TargetHost::Ip(*ip),
                Err(_) => TargetHost::Domain(&host),
            },
            port: PORTS[usize::from(b.byte()) % PORTS.len()],
            method: b.pick(METHODS),
            path: b.pick(PATHS),
        };
        assert_eq!(
            decide(&rules, &target),
            reference(&rules, &target),
            "{rules:?} {target:?}"
        );
    }
});
