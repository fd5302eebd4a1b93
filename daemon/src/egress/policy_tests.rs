//! The matcher against examples, and against a naive reference matcher on generated rules.

use super::reference::reference;
use super::*;
use proptest::prelude::*;

fn rule(host: &str, ports: Option<&[u16]>, methods: Option<&[&str]>, prefix: Option<&str>) -> Rule {
    Rule::new(
        host,
        ports.map(<[u16]>::to_vec),
        methods.map(|m| m.iter().map(|s| s.to_string()).collect()),
        prefix.map(str::to_owned),
    )
    .expect("valid rule")
}

fn domain<'a>(host: &'a str, port: u16, method: &'a str, path: &'a str) -> Target<'a> {
    Target {
        host: TargetHost::Domain(host),
        port,
        method,
        path,
    }
}

#[test]
fn no_rules_no_network() {
    assert_eq!(
        decide(&[], &domain("example.com", 443, "GET", "/")),
        Decision::Denied(Denial::NoRules)
    );
}

#[test]
fn exact_wildcard_and_ip_hosts() {
    let rules = [
        rule("api.example.com", None, None, None),
        rule("*.example.org", None, None, None),
        rule("127.0.0.1", None, None, None),
        rule("[::1]", None, None, None),
    ];
    let at = |host| decide(&rules, &domain(host, 443, "GET", "/"));
    assert_eq!(at("api.example.com"), Decision::Allowed(0));
    assert_eq!(at("api.example.com."), Decision::Allowed(0));
    assert_eq!(at("example.com"), Decision::Denied(Denial::Host));
    assert_eq!(at("xapi.example.com"), Decision::Denied(Denial::Host));
    assert_eq!(
        at("api.example.com.evil.net"),
        Decision::Denied(Denial::Host)
    );
    assert_eq!(at("a.example.org"), Decision::Allowed(1));
    assert_eq!(at("a.b.example.org"), Decision::Allowed(1));
    assert_eq!(at("example.org"), Decision::Denied(Denial::Host));
    assert_eq!(at("badexample.org"), Decision::Denied(Denial::Host));
    let ip = |ip: &str| {
        decide(
            &rules,
            &Target {
                host: TargetHost::Ip(ip.parse().expect("ip")),
                port: 80,
                method: "GET",
                path: "/",
            },
        )
    };
    assert_eq!(ip("127.0.0.1"), Decision::Allowed(2));
    assert_eq!(ip("0:0:0:0:0:0:0:1"), Decision::Allowed(3));
    assert_eq!(ip("127.0.0.2"), Decision::Denied(Denial::Host));
    // A domain that spells an address is not that address.
    assert_eq!(at("127.0.0.1"), Decision::Denied(Denial::Host));
}

#[test]
fn narrowing_by_port_method_and_path_and_the_first_match_wins() {
    let rules = [
        rule(
            "api.example.com",
            Some(&[443]),
            Some(&["GET"]),
            Some("/v1/"),
        ),
        rule("api.example.com", Some(&[8443]), None, None),
    ];
    let at = |port, method, path| decide(&rules, &domain("api.example.com", port, method, path));
    assert_eq!(at(443, "GET", "/v1/users"), Decision::Allowed(0));
    assert_eq!(at(8443, "DELETE", "/admin"), Decision::Allowed(1));
    assert_eq!(at(80, "GET", "/v1/x"), Decision::Denied(Denial::Port));
    assert_eq!(at(443, "POST", "/v1/x"), Decision::Denied(Denial::Method));
    assert_eq!(at(443, "GET", "/v1"), Decision::Denied(Denial::Path));
    assert_eq!(at(443, "GET", "/v2/x"), Decision::Denied(Denial::Path));
}

#[test]
fn bad_rules_are_refused() {
    for host in [
        "",
        "*",
        "*.",
        "a.*.com",
        "exa mple.com",
        "127.1",
        "2130706433",
        "[::1",
        "ex/ample",
    ] {
        assert!(Rule::new(host, None, None, None).is_err(), "{host:?}");
    }
    assert!(Rule::new("a.com", Some(vec![]), None, None).is_err());
    assert!(Rule::new("a.com", Some(vec![0]), None, None).is_err());
    assert!(Rule::new("a.com", None, Some(vec!["get".into()]), None).is_err());
    assert!(Rule::new("a.com", None, Some(vec![]), None).is_err());
    assert!(Rule::new("a.com", None, None, Some("v1/".into())).is_err());
    assert_eq!(
        HostPattern::parse("API.Example.COM").expect("valid"),
        HostPattern::Exact("api.example.com".into())
    );
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("ab"), Just("x-1")].prop_map(str::to_owned)
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just("127.0.0.1"),
        Just("10.0.0.1"),
        Just("::1"),
        Just("::ffff:127.0.0.1")
    ]
    .prop_map(|s| s.parse().expect("ip"))
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    let host = prop_oneof![
        name(),
        name().prop_map(|n| format!("*.{n}")),
        ip().prop_map(|ip| ip.to_string()),
    ];
    let ports = prop::option::of(prop::collection::vec(
        prop_oneof![Just(80u16), Just(443), Just(8080)],
        1..3,
    ));
    let methods = prop::option::of(prop::collection::vec(
        prop_oneof![Just("GET"), Just("POST"), Just("PUT")].prop_map(str::to_owned),
        1..3,
    ));
    let prefix = prop::option::of(
        prop_oneof![Just("/"), Just("/v1"), Just("/v1/"), Just("/v1/a")].prop_map(str::to_owned),
    );
    (host, ports, methods, prefix)
        .prop_map(|(h, p, m, x)| Rule::new(&h, p, m, x).expect("generated rules are valid"))
}

proptest! {
    #[test]
    fn matcher_agrees_with_the_reference(
        rules in prop::collection::vec(arb_rule(), 0..6),
        host in prop_oneof![name(), name().prop_map(|n| format!("{n}.")), ip().prop_map(|ip| ip.to_string())],
        port in prop_oneof![Just(80u16), Just(443), Just(8080), Just(9)],
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        path in prop_oneof![Just("/"), Just("/v1"), Just("/v1/"), Just("/v1/a/b"), Just("/v2")],
    ) {
        let parsed = host.parse::<IpAddr>();
        let target = Target {
            host: match &parsed { Ok(ip) => TargetHost::Ip(*ip), Err(_) => TargetHost::Domain(&host) },
            port,
            method,
            path,
        };
        prop_assert_eq!(decide(&rules, &target), reference(&rules, &target));
    }
}
