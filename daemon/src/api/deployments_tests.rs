//! Unit tests of `deployments.rs`: which version a request reaches, percentages, headers.

use super::*;
use axum::http::HeaderValue;

fn split(current: &str, other: &str, bp: u32) -> Deployment {
    Deployment {
        current: current.into(),
        split: Some((other.into(), bp)),
    }
}

/// How many of every roll reach `version`.
fn share(d: &Deployment, version: &str) -> usize {
    let none = VersionChoice::default();
    (0..ALL_BP)
        .filter(|r| pick(d, "app", &none, *r) == version)
        .count()
}

#[test]
fn rolls_reach_each_version_by_its_share() {
    for (current, other) in [("aaa", "bbb"), ("bbb", "aaa")] {
        for bp in [1, 1_000, 5_000, 9_999] {
            let d = split(current, other, bp);
            assert_eq!(share(&d, other), bp as usize, "{current} {other} {bp}");
            assert_eq!(share(&d, current), (ALL_BP - bp) as usize);
        }
    }
    let whole = Deployment {
        current: "cur".into(),
        split: None,
    };
    assert_eq!(share(&whole, "cur"), ALL_BP as usize);
}

fn keyed(key: &str) -> VersionChoice {
    VersionChoice {
        key: Some(key.into()),
        overrides: None,
    }
}

#[test]
fn a_key_always_reaches_one_version_and_keys_spread_by_the_share() {
    let d = split("aaa", "bbb", 2_500);
    let mut others = 0;
    for i in 0..4_000 {
        let choice = keyed(&format!("user-{i}"));
        let first = pick(&d, "app", &choice, 0);
        // Whatever the random roll, the key decides.
        assert_eq!(pick(&d, "app", &choice, ALL_BP - 1), first);
        others += usize::from(first == "bbb");
    }
    // About a quarter (SHA-256 spreads keys evenly; the count is fixed for these keys).
    assert!((800..1_200).contains(&others), "{others} of 4000");
}

#[test]
fn a_ramp_only_moves_keys_toward_the_growing_version_also_when_it_becomes_current() {
    // The new version's share from 10% to 100% by steps, as the store makes them: the larger
    // share current (on a tie, the one current before). Both id orders.
    for (old, new) in [("aaa", "bbb"), ("bbb", "aaa")] {
        let at = |bp: u32| match bp {
            0..=5_000 => split(old, new, bp),
            _ => split(new, old, ALL_BP - bp),
        };
        for i in 0..2_000 {
            let choice = keyed(&format!("user-{i}"));
            let mut on_new = false;
            for bp in [1_000, 4_000, 5_000, 5_100, 6_000, 9_000, 9_999] {
                let now = pick(&at(bp), "app", &choice, 0) == new;
                assert!(now || !on_new, "user-{i} moved back to {old} at {bp}");
                on_new = now;
            }
        }
    }
}

#[test]
fn an_override_names_a_version_of_the_deployment_or_nothing() {
    let d = split("aaa", "bbb", 1);
    let pinned = |id: &str| VersionChoice {
        key: Some("k".into()),
        overrides: Some(format!("other=\"aaa\", app=\"{id}\"")),
    };
    for roll in [0, ALL_BP - 1] {
        assert_eq!(pick(&d, "app", &pinned("bbb"), roll), "bbb");
        assert_eq!(pick(&d, "app", &pinned("aaa"), roll), "aaa");
    }
    // Another version's id is no override, nor is another name's: the key decides.
    let by_key = pick(&d, "app", &keyed("k"), 0);
    assert_eq!(pick(&d, "app", &pinned("ccc"), 0), by_key);
    assert_eq!(pick(&d, "web", &pinned("bbb"), 0), by_key);
}

#[test]
fn the_headers_are_read_for_a_name_only_and_malformed_overrides_name_nothing() {
    let mut headers = HeaderMap::new();
    headers.insert(VERSION_KEY, HeaderValue::from_static("k1"));
    headers.append(VERSION_OVERRIDES, HeaderValue::from_static("other=\"x\""));
    headers.append(VERSION_OVERRIDES, HeaderValue::from_static("app=\"abc\""));
    let choice = VersionChoice::of(&headers, "app");
    assert_eq!(choice.key.as_deref(), Some("k1"));
    // Two lines are one dictionary.
    assert_eq!(choice.pinned("app").as_deref(), Some("abc"));
    assert_eq!(choice.pinned("other").as_deref(), Some("x"));
    assert_eq!(choice.pinned("none"), None);
    // A hex id is not a name: nothing applies.
    assert_eq!(
        VersionChoice::of(&headers, &"a".repeat(64)),
        VersionChoice::default()
    );
    // A token is not a string, and a malformed dictionary is no override.
    for bad in ["app=abc", "app=\"abc", "app=(\"abc\")"] {
        headers.insert(VERSION_OVERRIDES, HeaderValue::from_static(bad));
        assert_eq!(
            VersionChoice::of(&headers, "app").pinned("app"),
            None,
            "{bad}"
        );
    }
}

#[test]
fn percentages_are_basis_points_with_two_decimals_at_most() {
    assert_eq!(basis_points(100.0), Some(10_000));
    assert_eq!(basis_points(0.01), Some(1));
    assert_eq!(basis_points(12.34), Some(1_234));
    assert_eq!(basis_points(99.99), Some(9_999));
    for bad in [0.0, -1.0, 100.01, 0.001, 12.345, f64::NAN, f64::INFINITY] {
        assert_eq!(basis_points(bad), None, "{bad}");
    }
}
