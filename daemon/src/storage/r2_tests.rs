//! The R2 store on real files: uploads within the object cap and the tenant's quota (nothing
//! left behind when refused), commits with conditions, listing with prefixes, delimiters and
//! cursors, ranges, and the sweep of files no row names.

use super::super::r2_cond::{OnlyIf, Range};
use super::super::r2_index::{self, Committed, ListQuery, Meta};
use super::super::r2_upload::Upload;
use super::*;
use serde_json::json;

fn r2(tag: &str, max_object_bytes: u64, tenant_max_bytes: u64) -> (Arc<R2>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("stockade-r2-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r2 = R2::new(R2Settings {
        dir: dir.clone(),
        max_object_bytes,
        tenant_max_bytes,
        multipart_expiry: std::time::Duration::from_secs(3600),
    });
    (r2, dir)
}

fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Puts `bytes` at `key` of bucket `b` as `r2_calls` does.
fn put(r2: &R2, key: &str, bytes: &[u8], only_if: &OnlyIf) -> Result<Option<Meta>, R2Error> {
    let t = r2.tenant("t", "b")?;
    let mut u = Upload::begin(Arc::clone(&t), &r2.settings, "b", None)?;
    for chunk in bytes.chunks(7) {
        u.write(chunk)?;
    }
    let stored = u.store()?;
    let meta = Meta {
        key: key.into(),
        version: stored.version.clone(),
        size: stored.size,
        etag: stored.md5.clone(),
        uploaded_ms: 1_000_000,
        http: json!({}),
        custom: json!({}),
        checksums: json!({"md5": stored.md5}),
    };
    let done =
        t.change(|conn| r2_index::commit(conn, "b", &meta, only_if, r2.settings.tenant_max_bytes))?;
    match done {
        Committed::ConditionFailed => Ok(None),
        Committed::Written(old) => {
            stored.keep();
            if let Some(old) = old {
                remove_version(&t, "b", &old);
            }
            Ok(Some(meta))
        }
    }
}

#[test]
fn uploads_stay_within_the_caps_and_leave_nothing_when_refused() {
    let (r2, dir) = r2("caps", 100, 250);
    let none = OnlyIf::default();
    let a = put(&r2, "a", &[1; 100], &none)
        .expect("at the object cap")
        .expect("written");
    assert_eq!(a.etag, "7806c0bf75f9f9b46ba74ebb8aff2de4"); // md5 of 100 bytes of 0x01 (Python's hashlib)
    assert!(matches!(
        put(&r2, "big", &[1; 101], &none),
        Err(R2Error::Failed(10100, _))
    ));
    put(&r2, "b", &[2; 100], &none).expect("within the quota");
    let Err(R2Error::Failed(10100, message)) = put(&r2, "c", &[3; 60], &none) else {
        panic!("past the tenant's quota");
    };
    assert!(message.contains("r2_tenant_max_bytes = 250"), "{message}");
    // Two objects' files and nothing half-written.
    assert_eq!(
        files(&dir.join("t/b")).len(),
        2,
        "{:?}",
        files(&dir.join("t/b"))
    );
    let t = r2.tenant("t", "b").expect("tenant");
    assert_eq!(t.pending.load(Ordering::SeqCst), 0);
    assert_eq!(t.used.load(Ordering::SeqCst), 200);
    // Replacing an object counts only its new size; the old file goes.
    put(&r2, "a", &[9; 10], &none)
        .expect("smaller")
        .expect("written");
    assert_eq!(t.used.load(Ordering::SeqCst), 110);
    assert_eq!(files(&dir.join("t/b")).len(), 2);
    assert!(matches!(r2.tenant("t", "../x"), Err(R2Error::Invalid(_))));
}

#[test]
fn conditions_decide_a_put() {
    let (r2, _dir) = r2("cond", 1000, 10_000);
    let etag = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect());
    let if_match = OnlyIf {
        etag_matches: etag(&["*"]),
        ..OnlyIf::default()
    };
    assert_eq!(
        put(&r2, "k", b"one", &if_match).expect("ok"),
        None,
        "no object to match"
    );
    let create_only = OnlyIf {
        etag_does_not_match: etag(&["*"]),
        ..OnlyIf::default()
    };
    let first = put(&r2, "k", b"one", &create_only)
        .expect("ok")
        .expect("created");
    assert_eq!(put(&r2, "k", b"two", &create_only).expect("ok"), None);
    let wrong = OnlyIf {
        etag_matches: etag(&["nope"]),
        ..OnlyIf::default()
    };
    assert_eq!(put(&r2, "k", b"two", &wrong).expect("ok"), None);
    let right = OnlyIf {
        etag_matches: Some(vec![first.etag.clone()]),
        ..OnlyIf::default()
    };
    assert!(put(&r2, "k", b"two", &right).expect("ok").is_some());
    // Dates: uploaded at 1_000_000 ms.
    let parsed = OnlyIf::parse(Some(&json!({"uploadedAfter": 999_999}))).expect("valid");
    assert!(parsed.holds(Some(&first)));
    let parsed = OnlyIf::parse(Some(&json!({"uploadedAfter": 1_000_000}))).expect("valid");
    assert!(!parsed.holds(Some(&first)));
    let seconds = OnlyIf::parse(Some(
        &json!({"uploadedBefore": 1_000_500, "secondsGranularity": true}),
    ))
    .expect("valid");
    assert!(
        !seconds.holds(Some(&first)),
        "the same second is not before"
    );
    let header = OnlyIf::parse(Some(&json!({
        "etagDoesNotMatch": format!("W/\"x\", \"{}\"", first.etag),
        "uploadedAfter": "Thu, 01 Jan 1970 00:00:00 GMT",
    })))
    .expect("valid");
    assert!(
        !header.holds(Some(&first)),
        "If-None-Match wins over the date"
    );
    assert!(OnlyIf::parse(Some(&json!({"uploadedAfter": "yesterday"}))).is_err());
    assert!(OnlyIf::parse(Some(&json!({"other": 1}))).is_err());
}

#[test]
fn ranges_resolve_within_the_object() {
    let r = |v: serde_json::Value| Range::parse(Some(&v)).expect("valid").expect("some");
    assert_eq!(r(json!({"offset": 2, "length": 3})).resolve(10), Ok((2, 3)));
    assert_eq!(
        r(json!({"offset": 8, "length": 30})).resolve(10),
        Ok((8, 2))
    );
    assert_eq!(r(json!({"length": 4})).resolve(10), Ok((0, 4)));
    assert_eq!(r(json!({"suffix": 3})).resolve(10), Ok((7, 3)));
    assert_eq!(r(json!({"suffix": 30})).resolve(10), Ok((0, 10)));
    assert_eq!(r(json!("bytes=1-4")).resolve(10), Ok((1, 4)));
    assert_eq!(r(json!("bytes=5-")).resolve(10), Ok((5, 5)));
    assert_eq!(r(json!("bytes=-2")).resolve(10), Ok((8, 2)));
    assert!(matches!(
        r(json!({"offset": 11})).resolve(10),
        Err(R2Error::Failed(10039, _))
    ));
    for bad in [
        json!({"offset": -1}),
        json!({"offset": 1.5}),
        json!({"suffix": 1, "offset": 2}),
        json!({"start": 1}),
        json!("bytes=4-1"),
        json!("bytes=1-2,4-5"),
        json!("items=1-2"),
    ] {
        assert!(Range::parse(Some(&bad)).is_err(), "{bad}");
    }
}

#[test]
fn lists_page_by_prefix_delimiter_and_cursor() {
    let (r2, _dir) = r2("list", 1000, 100_000);
    let none = OnlyIf::default();
    for key in [
        "a/1", "a/2", "a/b/3", "b", "c/9", "c/x/1", "d", "\u{e9}", "a\u{0}z",
    ] {
        put(&r2, key, key.as_bytes(), &none).expect("put");
    }
    let t = r2.tenant("t", "b").expect("tenant");
    let list = |q: &ListQuery| r2_index::list(&t.lock(), "b", q).expect("list");
    let keys = |p: &r2_index::ListPage| p.objects.iter().map(|m| m.key.clone()).collect::<Vec<_>>();
    let all = list(&ListQuery {
        limit: 1000,
        ..ListQuery::default()
    });
    assert_eq!(
        keys(&all),
        ["a\u{0}z", "a/1", "a/2", "a/b/3", "b", "c/9", "c/x/1", "d", "\u{e9}"],
        "byte order: NUL before '/'"
    );
    assert_eq!(all.cursor, None);
    let delimited = list(&ListQuery {
        limit: 1000,
        delimiter: Some("/".into()),
        ..ListQuery::default()
    });
    assert_eq!(keys(&delimited), ["a\u{0}z", "b", "d", "\u{e9}"]);
    assert_eq!(delimited.delimited_prefixes, ["a/", "c/"]);
    let under_a = list(&ListQuery {
        prefix: "a/".into(),
        limit: 1000,
        delimiter: Some("/".into()),
        ..ListQuery::default()
    });
    assert_eq!(keys(&under_a), ["a/1", "a/2"]);
    assert_eq!(under_a.delimited_prefixes, ["a/b/"]);
    // Pages of two, delimited: objects and prefixes count together, each once.
    let mut seen = Vec::new();
    let mut from = Vec::new();
    loop {
        let page = list(&ListQuery {
            limit: 2,
            from: from.clone(),
            delimiter: Some("/".into()),
            ..ListQuery::default()
        });
        assert!(page.objects.len() + page.delimited_prefixes.len() <= 2);
        seen.extend(keys(&page));
        seen.extend(page.delimited_prefixes.clone());
        match page.cursor {
            Some(c) => from = c,
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["a\u{0}z", "a/", "b", "c/", "d", "\u{e9}"]);
}

#[test]
fn files_no_row_names_are_swept_when_the_index_opens() {
    let (r2, dir) = r2("sweep", 1000, 100_000);
    put(&r2, "k", b"kept", &OnlyIf::default()).expect("put");
    std::fs::write(dir.join("t/b/tmp-abandoned"), b"half").expect("stray");
    std::fs::write(dir.join("t/b/0123"), b"orphan").expect("stray");
    assert_eq!(files(&dir.join("t/b")).len(), 3);
    // A new process (a new R2 on the same folder) opens the index again.
    let again = R2::new(r2.settings.clone());
    let t = again.tenant("t", "b").expect("tenant");
    assert_eq!(files(&dir.join("t/b")).len(), 1);
    assert_eq!(t.used.load(Ordering::SeqCst), 4);
    let m = r2_index::get(&t.lock(), "b", "k")
        .expect("get")
        .expect("kept");
    assert_eq!(
        std::fs::read(dir.join("t/b").join(&m.version)).expect("file"),
        b"kept"
    );
}
