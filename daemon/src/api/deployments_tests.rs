//! Unit tests of `deployments.rs`: which version a request reaches, percentages, headers.

use super::*;
use axum::http::HeaderValue;

fn split(bp: u32) -> Deployment {
    Deployment {
        current: "cur".into(),
        split: Some(("new".into(), bp)),
    }
}

#[test]
fn a_roll_below_the_share_reaches_the_other_version() {
    let none = VersionChoice::default();
    let d = split(1_000);
    assert_eq!(pick(&d, &none, 0), "new");
    assert_eq!(pick(&d, &none, 999), "new");
    assert_eq!(pick(&d, &none, 1_000), "cur");
    assert_eq!(pick(&d, &none, ALL_BP - 1), "cur");
    // Every roll: exactly the share.
    let others = (0..ALL_BP).filter(|r| pick(&d, &none, *r) == "new").count();
    assert_eq!(others, 1_000);
    let whole = Deployment {
        current: "cur".into(),
        split: None,
    };
    assert_eq!(pick(&whole, &none, 0), "cur");
}

#[test]
fn a_key_always_reaches_one_version_and_keys_spread_by_the_share() {
    let d = split(2_500);
    let keyed = |k: &str| VersionChoice {
        key: Some(k.into()),
        pinned: None,
    };
    let mut others = 0;
    for i in 0..4_000 {
        let choice = keyed(&format!("user-{i}"));
        let first = pick(&d, &choice, 0);
        // Whatever the random roll, the key decides.
        assert_eq!(pick(&d, &choice, ALL_BP - 1), first);
        others += usize::from(first == "new");
    }
    // About a quarter (SHA-256 spreads keys evenly; the count is fixed for these keys).
    assert!((800..1_200).contains(&others), "{others} of 4000");
    // A key that reaches the new version at 25% still does at 50%: affinity survives a ramp.
    for i in 0..4_000 {
        let choice = keyed(&format!("user-{i}"));
        if pick(&d, &choice, 0) == "new" {
            assert_eq!(pick(&split(5_000), &choice, 0), "new");
        }
    }
}

#[test]
fn an_override_names_a_version_of_the_deployment_or_nothing() {
    let d = split(1);
    let pinned = |id: &str| VersionChoice {
        key: None,
        pinned: Some(id.into()),
    };
    assert_eq!(pick(&d, &pinned("new"), ALL_BP - 1), "new");
    assert_eq!(pick(&d, &pinned("cur"), 0), "cur");
    // Another version's id is no override: the roll decides.
    assert_eq!(pick(&d, &pinned("other"), 0), "new");
    assert_eq!(pick(&d, &pinned("other"), ALL_BP - 1), "cur");
}

#[test]
fn the_headers_are_read_for_the_name_only() {
    let mut headers = HeaderMap::new();
    headers.insert(VERSION_KEY, HeaderValue::from_static("k1"));
    headers.insert(
        VERSION_OVERRIDES,
        HeaderValue::from_static("other=\"x\", app=\"abc\""),
    );
    let choice = VersionChoice::of(&headers, "app");
    assert_eq!(choice.key.as_deref(), Some("k1"));
    assert_eq!(choice.pinned.as_deref(), Some("abc"));
    assert_eq!(VersionChoice::of(&headers, "none").pinned, None);
    // A hex id is not a name: nothing applies.
    assert_eq!(
        VersionChoice::of(&headers, &"a".repeat(64)),
        VersionChoice::default()
    );
    // A token is not a string, and a malformed dictionary is no override.
    for bad in ["app=abc", "app=\"abc", "app=(\"abc\")"] {
        headers.insert(VERSION_OVERRIDES, HeaderValue::from_static(bad));
        assert_eq!(VersionChoice::of(&headers, "app").pinned, None, "{bad}");
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
