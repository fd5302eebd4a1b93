//! A body held to its length, alone and through the gateway to a real HTTP server on 127.0.0.1.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use stockade_cordon::TenantId;

use super::*;
use crate::config::Config;
use crate::egress::test_upstream::{Answer, Upstream};
use crate::egress::Egress;
use crate::supervisor::Resources;

async fn collect(chunks: &[&[u8]], length: u64) -> Result<Vec<u8>, String> {
    let items: Vec<UploadItem> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut held = exactly(futures_util::stream::iter(items), length);
    let mut out = Vec::new();
    while let Some(item) = held.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(e) => {
                assert!(held.next().await.is_none(), "nothing after a failure");
                return Err(e.to_string());
            }
        }
    }
    Ok(out)
}

#[tokio::test]
async fn a_body_is_handed_on_only_at_its_length() {
    assert_eq!(
        collect(&[b"abc", b"", b"de"], 5).await,
        Ok(b"abcde".to_vec())
    );
    assert_eq!(collect(&[], 0).await, Ok(Vec::new()));
    assert_eq!(collect(&[b"", b""], 0).await, Ok(Vec::new()));
    let short = collect(&[b"abc"], 5).await.expect_err("short");
    assert!(
        short.contains("ended 2 bytes short of its length (5 bytes)"),
        "{short}"
    );
    let long = collect(&[b"abc", b"def"], 5).await.expect_err("long");
    assert!(long.contains("longer than its length (5 bytes)"), "{long}");
    // Exactly the length, then more: the last bytes are never handed on.
    let items: Vec<UploadItem> = vec![
        Ok(Bytes::from_static(b"abcde")),
        Ok(Bytes::from_static(b"f")),
    ];
    let mut held = exactly(futures_util::stream::iter(items), 5);
    assert!(
        held.next().await.is_some_and(|i| i.is_err()),
        "fails in place of the last bytes"
    );
    let long = collect(&[b"", b"x"], 0).await.expect_err("long");
    assert!(long.contains("longer than its length (0 bytes)"), "{long}");
    // A body that fails fails the upload with its own error.
    let items: Vec<UploadItem> = vec![
        Ok(Bytes::from_static(b"ab")),
        Err(std::io::Error::other("the request body's stream failed")),
    ];
    let mut held = exactly(futures_util::stream::iter(items), 5);
    assert!(held.next().await.is_some_and(|i| i.is_ok()));
    let failed = held.next().await.expect("an item").expect_err("failed");
    assert_eq!(failed.to_string(), "the request body's stream failed");
}

/// An upload of `chunks` whose head says `length`, through the gateway to `port`.
async fn upload(e: &Egress, port: u16, chunks: &[&[u8]], length: u64) -> Result<Vec<u8>, String> {
    let head = serde_json::json!({
        "method": "POST", "url": format!("http://127.0.0.1:{port}/up"),
        "headers": [["content-type", "text/plain"]], "redirect": "follow", "upload": 1,
        "length": length,
    })
    .to_string();
    let mut payload = (head.len() as u32).to_le_bytes().to_vec();
    payload.extend_from_slice(head.as_bytes());
    let resources = Arc::new(Resources::default());
    let feed = |resources: Arc<Resources>| async move {
        for chunk in chunks {
            let mut frame = 1u32.to_le_bytes().to_vec();
            frame.push(0);
            frame.extend_from_slice(chunk);
            // Refused once the gateway gave up on the body: the fetch's answer says why.
            if crate::egress::stream::write(&resources, &frame)
                .await
                .is_err()
            {
                return;
            }
        }
        let mut end = 1u32.to_le_bytes().to_vec();
        end.push(1);
        let _ = crate::egress::stream::write(&resources, &end).await;
    };
    let (answer, ()) = tokio::join!(
        e.gateway
            .fetch_with(TenantId(0), None, payload, Some(&resources)),
        feed(Arc::clone(&resources)),
    );
    answer
}

#[tokio::test]
async fn an_upload_of_known_length_is_sent_with_it_and_held_to_it() {
    let up = Upstream::start(|_| Answer::ok(b"got it"));
    let text = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n[[tenants]]\nid = \"t0\"\n\
         token = \"0123456789abcdef\"\n[[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n",
        up.port
    );
    let config: Config = toml::from_str(&text).expect("config");
    let e = Egress::new(&config).expect("egress");
    let answer = upload(&e, up.port, &[b"hello ", b"world"], 11).await;
    assert!(answer.is_ok_and(|a| a.ends_with(b"got it")));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("content-length"),
        Some("11"),
        "{:?}",
        seen[0]
    );
    assert_eq!(seen[0].header("transfer-encoding"), None, "{:?}", seen[0]);
    assert_eq!(seen[0].body, b"hello world");
    // Short or long of its length: the fetch fails and the upstream never has a whole request.
    for (chunks, length, why) in [
        (&[&b"hello "[..]][..], 11, "short of its length (11 bytes)"),
        (
            &[&b"hello "[..], &b"world!"[..]][..],
            11,
            "longer than its length (11 bytes)",
        ),
        (
            &[&b"hello world"[..], &b"!"[..]][..],
            11,
            "longer than its length (11 bytes)",
        ),
    ] {
        let error = upload(&e, up.port, chunks, length)
            .await
            .expect_err("fails");
        assert!(error.contains(why), "{error}");
        assert_eq!(
            up.requests().len(),
            1,
            "{why}: nothing more was taken whole: {:?}",
            up.requests()
        );
    }
}
