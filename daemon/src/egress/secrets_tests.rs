//! Unit tests of the secrets table: reloads, values set through the API and undone, set, list
//! and delete by name, redaction.

use super::*;

#[test]
fn a_reload_replaces_the_files_secrets_and_keeps_the_apis() {
    let file = |pairs: &[(&str, &str)]| -> BTreeMap<String, SecretValue> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), SecretValue(v.to_string())))
            .collect()
    };
    let secrets = Secrets::new(vec![file(&[("a", "1"), ("b", "2")])]);
    secrets.set(0, "api", "x".into()).expect("set");
    secrets.configure(0, &file(&[("a", "1b")]));
    let value = |t: usize, n: &str| secrets.value(t, n).map(|v| v.0);
    assert_eq!(value(0, "a").as_deref(), Some("1b"), "changed in the file");
    assert_eq!(value(0, "b"), None, "dropped from the file");
    assert_eq!(value(0, "api").as_deref(), Some("x"), "set through the API");
    // A value set through the API over the file's: deleting it brings the file's back.
    secrets.set(0, "a", "over".into()).expect("set");
    assert_eq!(value(0, "a").as_deref(), Some("over"));
    assert!(secrets.in_file(0, "a") && !secrets.in_file(0, "api"));
    assert_eq!(secrets.delete(0, "a"), Deleted::FileValueBack);
    assert_eq!(value(0, "a").as_deref(), Some("1b"));
    secrets.configure(2, &file(&[("c", "3")]));
    assert_eq!(
        value(2, "c").as_deref(),
        Some("3"),
        "a tenant the reload added"
    );
    assert_eq!(secrets.names(1), Some(Vec::new()));
}

/// A file reload keeps the values set through the API over the file's (it used to put the
/// file's back until the stored ones were set again), and the stored set reloaded from the
/// store replaces the API's values whole: one deleted elsewhere goes (the file's comes back),
/// one changed elsewhere changes, the file's stay.
#[test]
fn the_apis_values_survive_a_file_reload_and_are_replaced_whole() {
    let file = |pairs: &[(&str, &str)]| -> BTreeMap<String, SecretValue> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), SecretValue(v.to_string())))
            .collect()
    };
    let secrets = Secrets::new(vec![file(&[("a", "file-a"), ("f", "file-f")]), file(&[])]);
    let value = |t: usize, n: &str| secrets.value(t, n).map(|v| v.0);
    secrets.set(0, "a", "api-a".into()).expect("set");
    secrets.set(0, "b", "api-b".into()).expect("set");
    secrets.configure(0, &file(&[("a", "file-a2"), ("f", "file-f")]));
    assert_eq!(
        value(0, "a").as_deref(),
        Some("api-a"),
        "the API's stays over"
    );
    assert_eq!(value(0, "b").as_deref(), Some("api-b"));
    // The store now holds: a deleted, b rotated, c new; tenant 1 gets one too.
    let skipped = secrets.replace_from_api(vec![
        file(&[("b", "api-b2"), ("c", "api-c"), ("bad name", "x")]),
        file(&[("d", "api-d")]),
    ]);
    assert_eq!(skipped.len(), 1, "the bad name is skipped");
    assert_eq!(skipped[0].1, "bad name");
    assert_eq!(
        value(0, "a").as_deref(),
        Some("file-a2"),
        "the file's is back"
    );
    assert_eq!(value(0, "b").as_deref(), Some("api-b2"));
    assert_eq!(value(0, "c").as_deref(), Some("api-c"));
    assert_eq!(value(0, "f").as_deref(), Some("file-f"));
    assert_eq!(value(1, "d").as_deref(), Some("api-d"));
    let both: Vec<_> = secrets
        .values(0, ["b", "zz"])
        .into_iter()
        .map(|v| v.map(|v| v.0))
        .collect();
    assert_eq!(both, vec![Some("api-b2".to_string()), None]);
    // An empty stored set: only the file's remain.
    assert!(secrets.replace_from_api(Vec::new()).is_empty());
    assert_eq!(secrets.names(0), Some(vec!["a".into(), "f".into()]));
    assert_eq!(secrets.names(1), Some(Vec::new()));
    assert_eq!(secrets.delete(0, "f"), Deleted::FileValueBack);
}

/// A set the store refused is undone to the value before it: an earlier value set through
/// the API (not the file's, which that value was over), the file's when there was none, or
/// none at all.
#[test]
fn an_undone_set_restores_the_value_it_replaced() {
    let file: BTreeMap<String, SecretValue> =
        [("a".to_string(), SecretValue("file-a".into()))].into();
    let secrets = Secrets::new(vec![file]);
    let value = |n: &str| secrets.value(0, n).map(|v| v.0);
    secrets.set(0, "a", "api-1".into()).expect("set");
    let refused = secrets.set(0, "a", "api-2".into()).expect("set");
    assert_eq!(value("a").as_deref(), Some("api-2"));
    secrets.undo(refused);
    assert_eq!(
        value("a").as_deref(),
        Some("api-1"),
        "the earlier API value"
    );
    assert_eq!(secrets.delete(0, "a"), Deleted::FileValueBack);
    let refused = secrets.set(0, "a", "api-3".into()).expect("set");
    secrets.undo(refused);
    assert_eq!(value("a").as_deref(), Some("file-a"), "the file's");
    let refused = secrets.set(0, "new", "api-4".into()).expect("set");
    secrets.undo(refused);
    assert_eq!(value("new"), None, "none");
    assert_eq!(secrets.names(0), Some(vec!["a".to_string()]));
}

#[test]
fn secrets_are_set_listed_and_deleted_by_name() {
    let secrets = Secrets::new(vec![BTreeMap::new(), BTreeMap::new()]);
    secrets.set(1, "k", "value-1".into()).expect("set");
    assert_eq!(secrets.names(1), Some(vec!["k".to_string()]));
    assert_eq!(secrets.names(0), Some(vec![]));
    assert_eq!(secrets.value(1, "k"), Some(SecretValue("value-1".into())));
    assert_eq!(
        secrets.set(1, "bad name", "v".into()),
        Err(SecretError::BadName)
    );
    assert_eq!(
        secrets.set(1, "k", "line\nbreak".into()),
        Err(SecretError::BadValue)
    );
    assert_eq!(secrets.set(5, "k", "v".into()), Err(SecretError::NoTenant));
    assert_eq!(secrets.delete(1, "k"), Deleted::Gone);
    assert_eq!(secrets.delete(1, "k"), Deleted::Missing);
    assert_eq!(format!("{:?}", SecretValue("v".into())), "[redacted]");
}
