//! An outbound `fetch()` whose uploaded body has a length the runtime knows is sent with it as
//! `Content-Length` (not chunked), as Workers sends it: a `FixedLengthStream`'s readable, and
//! bytes too large to ride in the `fetch` call (over 15 MiB). A `FixedLengthStream` body short
//! or long of its length fails the fetch, and the upstream never receives it as a whole request.
//! A real daemon, a real jailed worker, a real HTTP server on 127.0.0.1 that records the request
//! heads and bodies it received whole.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use common::*;
use upstream::{Answer, Upstream};

const ROOMY: &str = "[limits]\ncpu_ms = 20000\nwall_ms = 60000\nmemory_mb = 256\n";

#[test]
fn an_upload_of_known_length_is_sent_with_content_length() {
    let up = Upstream::start(|_| Answer::ok(b"ok"));
    let tail = format!(
        "{ROOMY}[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n",
        tenant_token(0),
        up.port
    );
    let d = Daemon::start_raw("egress-length", 1, &tail, &[]);
    let base = format!("http://127.0.0.1:{}", up.port);
    let code = format!(
        r#"
const base = {base};
const enc = new TextEncoder();
/** A FixedLengthStream of `length` bytes fed `parts` (and closed), POSTed to `path`. */
async function fixed(path, length, parts) {{
  const {{ readable, writable }} = new FixedLengthStream(length);
  const w = writable.getWriter();
  (async () => {{
    for (const p of parts) await w.write(enc.encode(p));
    await w.close();
  }})().catch(() => {{}});
  try {{
    const r = await fetch(base + path, {{ method: "POST", body: readable, duplex: "half" }});
    return [r.status, await r.text()];
  }} catch (e) {{
    return ["error", e.constructor.name];
  }}
}}
export default async () => {{
  const out = [];
  out.push(await fixed("/fixed", 11, ["hello ", "world"]));
  out.push(await fixed("/empty", 0, []));
  out.push(await fixed("/short", 20, ["hello ", "world"]));
  out.push(await fixed("/long", 5, ["hello ", "world"]));
  const big = new Uint8Array((15 << 20) + 3).fill(97);
  const r = await fetch(base + "/big", {{ method: "PUT", body: big }});
  out.push([r.status, await r.text()]);
  // A Request made from another keeps its body's known length.
  {{
    const {{ readable, writable }} = new FixedLengthStream(7);
    const w = writable.getWriter();
    w.write(enc.encode("re")).then(() => w.write(enc.encode("wrap"))).then(() => w.write(enc.encode("!"))).then(() => w.close()).catch(() => {{}});
    const first = new Request(base + "/rewrapped", {{ method: "POST", body: readable, duplex: "half" }});
    const r2 = await fetch(new Request(first, {{ headers: {{ "x-again": "1" }} }}));
    out.push([r2.status, await r2.text()]);
  }}
  return out;
}};
"#,
        base = serde_json::Value::from(base.clone())
    );
    let (status, body) = run(&d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(result[0], serde_json::json!([200, "ok"]), "{body}");
    assert_eq!(result[1], serde_json::json!([200, "ok"]), "{body}");
    assert_eq!(
        result[2],
        serde_json::json!(["error", "TypeError"]),
        "{body}"
    );
    assert_eq!(
        result[3],
        serde_json::json!(["error", "TypeError"]),
        "{body}"
    );
    assert_eq!(result[4], serde_json::json!([200, "ok"]), "{body}");
    assert_eq!(result[5], serde_json::json!([200, "ok"]), "{body}");

    let seen = up.requests();
    let at = |path: &str| seen.iter().find(|s| s.target == path);
    let fixed = at("/fixed").expect("/fixed reached the upstream");
    assert_eq!(fixed.header("content-length"), Some("11"), "{fixed:?}");
    assert_eq!(fixed.header("transfer-encoding"), None, "{fixed:?}");
    assert_eq!(fixed.body, b"hello world");
    let empty = at("/empty").expect("/empty reached the upstream");
    assert_eq!(empty.header("content-length"), Some("0"), "{empty:?}");
    assert_eq!(empty.header("transfer-encoding"), None, "{empty:?}");
    let big = at("/big").expect("/big reached the upstream");
    let big_len = ((15 << 20) + 3).to_string();
    assert_eq!(big.header("content-length"), Some(big_len.as_str()));
    assert_eq!(big.header("transfer-encoding"), None);
    assert_eq!(big.body.len(), (15 << 20) + 3);
    assert!(big.body.iter().all(|&b| b == b'a'));
    let rewrapped = at("/rewrapped").expect("/rewrapped reached the upstream");
    assert_eq!(
        rewrapped.header("content-length"),
        Some("7"),
        "{rewrapped:?}"
    );
    assert_eq!(rewrapped.header("transfer-encoding"), None, "{rewrapped:?}");
    assert_eq!(rewrapped.body, b"rewrap!");
    for path in ["/short", "/long"] {
        assert!(
            at(path).is_none(),
            "{path}: the upstream took a wrong body whole: {:?}",
            at(path)
        );
    }
}
