//! Multipart uploads on real files: parts stored and assembled into one file with R2's
//! multipart etag, the checks of a completion (etags, the 5 MiB minimum, the object cap), the
//! quota counting parts under way, uploads found only by their own tenant, bucket and key, and
//! the reaping of abandoned uploads (periodic, and when a tenant's index is opened).

use super::super::r2::{R2Settings, R2};
use super::super::r2_index;
use super::*;
use std::path::Path;
use std::sync::atomic::Ordering;

fn r2_in(dir: &Path, max_object_bytes: u64, tenant_max_bytes: u64, expiry: Duration) -> Arc<R2> {
    R2::new(R2Settings {
        dir: dir.to_owned(),
        max_object_bytes,
        tenant_max_bytes,
        multipart_expiry: expiry,
    })
}

fn fresh(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stockade-r2mp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
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

const HOUR: Duration = Duration::from_secs(3600);

fn create(r2: &R2, tenant: &str, key: &str) -> String {
    let t = r2.tenant(tenant, "b").expect("tenant");
    let id = new_version().expect("id");
    t.bucket_dir_made("b").expect("bucket");
    let meta = r2_parts::Upload {
        http: json!({"contentType": "x/y"}),
        custom: json!({"k": "v"}),
    };
    r2_parts::create(&t.lock(), &id, "b", key, &meta, crate::store::now_ms()).expect("create");
    id
}

fn part(
    r2: &R2,
    tenant: &str,
    key: &str,
    id: &str,
    n: u32,
    bytes: &[u8],
) -> Result<String, R2Error> {
    let t = r2.tenant(tenant, "b")?;
    let mut u = Upload::begin(Arc::clone(&t), &r2.settings, "b", None)?;
    for chunk in bytes.chunks(1 << 20) {
        u.write(chunk)?;
    }
    let (answer, _) = store_part(&t, "b", key, id, n, u, r2.settings.tenant_max_bytes)?;
    Ok(answer["etag"].as_str().unwrap_or("").to_owned())
}

fn finish(r2: &R2, tenant: &str, key: &str, id: &str, named: &[(u32, &str)]) -> Done {
    let t = r2.tenant(tenant, "b")?;
    let parts: Vec<Value> = named
        .iter()
        .map(|(n, e)| json!({"partNumber": n, "etag": e}))
        .collect();
    let named = named_parts(&json!({ "parts": parts }))?;
    complete(
        &t,
        "b",
        key,
        id,
        &named,
        r2.settings.max_object_bytes,
        1_000,
    )
}

fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

#[test]
fn parts_are_assembled_into_one_file_with_r2s_multipart_etag() {
    let dir = fresh("assemble");
    let r2 = r2_in(&dir, 64 << 20, 1 << 30, HOUR);
    let id = create(&r2, "t", "big");
    let one: Vec<u8> = (0..MIN_PART as u32).map(|i| (i % 253) as u8).collect();
    let two = b"the last part may be small".to_vec();
    // Uploaded out of order, part 2 replaced once: its first file goes.
    let e2_old = part(&r2, "t", "big", &id, 2, b"replaced").expect("part 2");
    let e2 = part(&r2, "t", "big", &id, 2, &two).expect("part 2 again");
    let e1 = part(&r2, "t", "big", &id, 1, &one).expect("part 1");
    assert_eq!((e1.clone(), e2.clone()), (md5_hex(&one), md5_hex(&two)));
    assert_eq!(files(&dir.join("t/b")).len(), 2, "two parts' files");
    let t = r2.tenant("t", "b").expect("tenant");
    let size = one.len() as u64 + two.len() as u64;
    assert_eq!(t.used.load(Ordering::SeqCst), size, "parts under way count");
    // The old etag of part 2 names nothing.
    let Err(R2Error::Failed(10025, _)) = finish(&r2, "t", "big", &id, &[(1, &e1), (2, &e2_old)])
    else {
        panic!("a stale etag is refused");
    };
    // Given in any order; etags may be quoted, as httpEtag.
    let quoted = format!("\"{e1}\"");
    let (answer, _) = finish(&r2, "t", "big", &id, &[(2, &e2), (1, &quoted)]).expect("complete");
    let o = &answer["object"];
    // R2's multipart etag: md5 of the binary md5s, then -N.
    let mut md5s = Md5::digest(&one).to_vec();
    md5s.extend(Md5::digest(&two));
    assert_eq!(o["etag"], format!("{}-2", md5_hex(&md5s)));
    assert_eq!(o["size"], size);
    assert_eq!(o["httpMetadata"], json!({"contentType": "x/y"}));
    assert_eq!(o["customMetadata"], json!({"k": "v"}));
    let m = r2_index::get(&t.lock(), "b", "big")
        .expect("index")
        .expect("stored");
    let whole = std::fs::read(dir.join("t/b").join(&m.version)).expect("its file");
    assert!(
        whole == [one.as_slice(), two.as_slice()].concat(),
        "the parts in order"
    );
    assert_eq!(
        files(&dir.join("t/b")),
        vec![m.version.clone()],
        "the parts' files are gone"
    );
    assert_eq!(t.used.load(Ordering::SeqCst), size, "counted once");
    assert_eq!(t.pending.load(Ordering::SeqCst), 0);
    // Completed: the upload is no more.
    let Err(R2Error::Failed(10024, _)) = finish(&r2, "t", "big", &id, &[(1, &e1)]) else {
        panic!("completed once");
    };
    assert!(part(&r2, "t", "big", &id, 3, b"x").is_err());
}

#[test]
fn a_completion_checks_sizes_and_uploads_are_found_only_where_they_were_made() {
    let dir = fresh("checks");
    let r2 = r2_in(&dir, MIN_PART + 10, 1 << 30, HOUR);
    let id = create(&r2, "t", "k");
    let e1 = part(&r2, "t", "k", &id, 1, &[1; 100]).expect("part 1");
    let e2 = part(&r2, "t", "k", &id, 2, &[2; 100]).expect("part 2");
    let Err(R2Error::Failed(10011, m)) = finish(&r2, "t", "k", &id, &[(1, &e1), (2, &e2)]) else {
        panic!("a small part but the last");
    };
    assert!(m.contains("smaller than the minimum"), "{m}");
    let e1 = part(&r2, "t", "k", &id, 1, &vec![1; MIN_PART as usize]).expect("5 MiB");
    let Err(R2Error::Failed(10100, m)) = finish(&r2, "t", "k", &id, &[(1, &e1), (2, &e2)]) else {
        panic!("past the object cap");
    };
    assert!(m.contains("r2_max_object_bytes"), "{m}");
    // Another key, another tenant: no such upload, and nothing of it changes.
    assert!(matches!(
        part(&r2, "t", "other", &id, 3, b"x"),
        Err(R2Error::Failed(10024, _))
    ));
    assert!(matches!(
        finish(&r2, "t", "other", &id, &[(1, &e1)]),
        Err(R2Error::Failed(10024, _))
    ));
    assert!(matches!(
        part(&r2, "u", "k", &id, 3, b"x"),
        Err(R2Error::Failed(10024, _))
    ));
    assert!(matches!(
        finish(&r2, "u", "k", &id, &[(1, &e1)]),
        Err(R2Error::Failed(10024, _))
    ));
    let u = r2.tenant("u", "b").expect("u");
    assert_eq!(
        r2_parts::abort(&mut u.lock(), &id, "b", "k")
            .expect("abort")
            .0,
        Vec::<String>::new()
    );
    assert_eq!(
        files(&dir.join("u/b")),
        Vec::<String>::new(),
        "the refused part left nothing"
    );
    // Just part 1 completes (part 2, not named, goes with the upload).
    let (answer, _) = finish(&r2, "t", "k", &id, &[(1, &e1)]).expect("one part");
    assert_eq!(answer["object"]["size"], MIN_PART);
    assert_eq!(files(&dir.join("t/b")).len(), 1);
}

#[test]
fn parts_under_way_count_against_the_quota_and_an_abort_gives_them_back() {
    let dir = fresh("quota");
    let r2 = r2_in(&dir, 1000, 250, HOUR);
    let id = create(&r2, "t", "k");
    part(&r2, "t", "k", &id, 1, &[1; 200]).expect("within");
    let Err(R2Error::Failed(10100, m)) = part(&r2, "t", "k", &id, 2, &[2; 100]) else {
        panic!("past the quota");
    };
    assert!(m.contains("r2_tenant_max_bytes = 250"), "{m}");
    assert_eq!(
        files(&dir.join("t/b")).len(),
        1,
        "the refused part left nothing"
    );
    let t = r2.tenant("t", "b").expect("t");
    let (gone, after) = r2_parts::abort(&mut t.lock(), &id, "b", "k").expect("abort");
    assert_eq!((gone.len(), after), (1, 0));
}

#[test]
fn abandoned_uploads_are_reaped_and_parts_survive_a_reopen_until_then() {
    let dir = fresh("reap");
    let r2 = r2_in(&dir, 1000, 10_000, HOUR);
    let id = create(&r2, "t", "k");
    part(&r2, "t", "k", &id, 1, &[1; 100]).expect("part");
    drop(r2);
    // A restart within the hour: the part's file is kept by the sweep, the upload resumes.
    let r2 = r2_in(&dir, 1000, 10_000, HOUR);
    let t = r2.tenant("t", "b").expect("t");
    assert_eq!(t.used.load(Ordering::SeqCst), 100);
    assert_eq!(files(&dir.join("t/b")).len(), 1);
    part(&r2, "t", "k", &id, 2, &[2; 10]).expect("resumed");
    reap(&t, HOUR).expect("nothing expired");
    assert_eq!(files(&dir.join("t/b")).len(), 2);
    // The periodic reap, with an upload older than the expiry.
    std::thread::sleep(Duration::from_millis(5));
    reap(&t, Duration::from_millis(1)).expect("reap");
    assert_eq!(files(&dir.join("t/b")), Vec::<String>::new());
    assert_eq!(t.used.load(Ordering::SeqCst), 0);
    assert!(matches!(
        part(&r2, "t", "k", &id, 3, b"x"),
        Err(R2Error::Failed(10024, _))
    ));
    // And when a tenant's index is opened (the daemon's start) past the deadline.
    let id = create(&r2, "t", "k");
    part(&r2, "t", "k", &id, 1, &[1; 100]).expect("part");
    drop((t, r2));
    std::thread::sleep(Duration::from_millis(5));
    let r2 = r2_in(&dir, 1000, 10_000, Duration::from_millis(1));
    r2.open_all();
    assert_eq!(r2.opened().len(), 1, "opened at start");
    assert_eq!(files(&dir.join("t/b")), Vec::<String>::new());
    assert_eq!(r2.opened()[0].used.load(Ordering::SeqCst), 0);
}
