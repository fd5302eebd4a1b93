//! Answers the host calls a test makes: `fetch()` of the WPT folder's own files, as WPT's server
//! would serve them to a test on [`ORIGIN`]. Everything else is a 404 (or, for another host call,
//! an error), so no test reaches a network.
//!
//! Wire format of `fetch` (isolate/js/fetch.js), both ways: u32 LE length of a JSON head, the
//! head, then the body bytes. Request head `{method, url, headers, redirect}`; reply head
//! `{status, statusText, headers, url, redirected}`.
//!
//! Guarantees: only regular files inside the WPT folder are read (the path is canonicalised and
//! must stay under the folder's canonical root); a malformed request is answered with an error,
//! never a panic.
//! Trusts: nothing in the payload (it comes from test code).

use std::path::Path;

use crate::bundle::ORIGIN;

/// The answer to host call `name` with `payload`.
pub fn host_call(root: &Path, name: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    if name != "fetch" {
        return Err(format!("the WPT runner has no host call {name:?}"));
    }
    let (head, _body) = split(payload).ok_or("malformed fetch request")?;
    let head: serde_json::Value =
        serde_json::from_slice(head).map_err(|e| format!("malformed fetch request head: {e}"))?;
    let method = head["method"].as_str().unwrap_or("");
    let url = head["url"].as_str().unwrap_or("");
    let found = match method {
        "GET" | "HEAD" => file_for(root, url),
        _ => None,
    };
    Ok(match found {
        Some((bytes, kind)) => {
            let body = if method == "HEAD" { Vec::new() } else { bytes };
            frame(200, "OK", kind, url, body)
        }
        None => frame(404, "Not Found", "text/plain", url, b"not found".to_vec()),
    })
}

fn split(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let len: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    let n = usize::try_from(u32::from_le_bytes(len)).ok()?;
    let end = n.checked_add(4)?;
    Some((payload.get(4..end)?, payload.get(end..)?))
}

fn frame(status: u16, text: &str, content_type: &str, url: &str, body: Vec<u8>) -> Vec<u8> {
    let head = serde_json::json!({
        "status": status,
        "statusText": text,
        "headers": [["content-type", content_type], ["content-length", body.len().to_string()]],
        "url": url,
        "redirected": false,
    })
    .to_string();
    let mut out = Vec::with_capacity(4 + head.len() + body.len());
    out.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(&body);
    out
}

/// The bytes and content type of the file `url` names on [`ORIGIN`], if it is one.
fn file_for(root: &Path, url: &str) -> Option<(Vec<u8>, &'static str)> {
    let path = url.strip_prefix(ORIGIN)?.strip_prefix('/')?;
    let path = path.split(['?', '#']).next()?;
    let path = percent_decode(path)?;
    if path
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return None;
    }
    let base = root.canonicalize().ok()?;
    let file = base.join(&path).canonicalize().ok()?;
    if !file.starts_with(&base) || !file.is_file() {
        return None;
    }
    let bytes = std::fs::read(&file).ok()?;
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("js") => "text/javascript",
        Some("vtt") => "text/vtt",
        Some("webm") => "video/webm",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    };
    Some((bytes, kind))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{host_call, split};

    fn request(method: &str, url: &str) -> Vec<u8> {
        let head =
            serde_json::json!({"method": method, "url": url, "headers": [], "redirect": "follow"})
                .to_string();
        let mut out = (head.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(head.as_bytes());
        out
    }

    fn status(reply: &[u8]) -> u64 {
        let (head, _) = split(reply).expect("framed");
        serde_json::from_slice::<serde_json::Value>(head).expect("JSON")["status"]
            .as_u64()
            .expect("status")
    }

    #[test]
    fn files_inside_the_folder_are_served_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("stockade-wpt-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).expect("dir");
        std::fs::write(dir.join("a/data.json"), b"{\"x\":1}").expect("file");
        let ok = host_call(
            &dir,
            "fetch",
            &request("GET", "http://web-platform.test:8000/a/data.json"),
        )
        .expect("answered");
        assert_eq!(status(&ok), 200);
        assert!(ok.ends_with(b"{\"x\":1}"));
        for url in [
            "http://web-platform.test:8000/a/../../etc/passwd",
            "http://web-platform.test:8000/a%2F..%2F..%2Fetc/passwd",
            "http://web-platform.test:8000/a/missing.json",
            "http://elsewhere.test/a/data.json",
            "http://web-platform.test:8000/a",
        ] {
            let reply = host_call(&dir, "fetch", &request("GET", url)).expect("answered");
            assert_eq!(status(&reply), 404, "{url}");
        }
        assert!(host_call(&dir, "kv.get", b"").is_err());
        assert!(host_call(&dir, "fetch", b"\xff\xff\xff\xff").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
