//! Outbound `fetch()` from tenant code through the supervisor's egress gateway, end to end: a
//! real daemon, real jailed workers, real HTTP servers on 127.0.0.1. Allow rules (first match,
//! narrowing by method, path and port), injected secrets the upstream receives and tenant code
//! never sees (bodies, headers, errors, logs, the secrets API, the audit), SSRF refusals, and a
//! slow upstream bounded by the request's wall limit.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use std::time::{Duration, Instant};

use common::*;
use upstream::{Answer, Upstream};

const SECRET: &str = "s3cr3t-value-e2e-7f3a";
const LATER: &str = "later-secret-value-9c1d";

/// `fetch(url, init)` in tenant code: `[status, text, x-echo-key, url, redirected]`, or
/// `["error", name, message]`.
fn fetch_code(url: &str, init: serde_json::Value) -> String {
    format!(
        "export default async () => {{ try {{ const r = await fetch({}, {init}); return [r.status, await r.text(), r.headers.get('x-echo-key'), r.url, r.redirected]; }} catch (e) {{ console.log('failed: ' + e.message); return ['error', e.constructor.name, e.message]; }} }};",
        serde_json::Value::from(url)
    )
}

fn post_run(d: &Daemon, token: &str, code: &str, wall_ms: u64) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(token)
        .json(&serde_json::json!({ "code": code, "limits": { "wallMs": wall_ms } }))
        .send()
        .expect("run");
    (r.status().as_u16(), r.json().expect("json"))
}

fn run_fetch(d: &Daemon, tenant: usize, url: &str, init: serde_json::Value) -> serde_json::Value {
    let (status, body) = post_run(d, &tenant_token(tenant), &fetch_code(url, init), 10_000);
    assert_eq!(status, 200, "{body}");
    body["result"].clone()
}

fn tenant(i: usize, body: &str) -> String {
    format!(
        "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\n{body}\n",
        tenant_token(i)
    )
}

fn assert_refused(result: &serde_json::Value, why: &str) {
    assert_eq!(result[0], "error", "{result}");
    assert_eq!(result[1], "TypeError", "{result}");
    let message = result[2].as_str().unwrap_or("");
    assert!(message.contains(why), "expected {why:?}: {result}");
}

#[test]
fn fetch_is_allowed_denied_and_narrowed_by_the_tenants_rules_and_secrets_stay_hidden() {
    let up = Upstream::start(Answer::echo);
    let p = up.port;
    let other = Upstream::start(|_| Answer::ok(b"other port"));
    let config = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n{}{}",
        tenant(
            0,
            &format!(
                "[tenants.secrets]\napi_key = \"{SECRET}\"\n\
                 [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{p}]\nmethods = [\"GET\"]\npath_prefix = \"/v1/\"\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n\
                 [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{p}]\nmethods = [\"PUT\"]\npath_prefix = \"/later/\"\ninject_headers = {{ \"X-Later\" = \"later\" }}\n"
            )
        ),
        tenant(1, ""),
    );
    let d = Daemon::start_raw("egress-rules", 1, &config, &[]);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");

    // Allowed: the upstream gets the secret (replacing the tenant's own header); tenant code
    // gets the echo with the value scrubbed from the body and the headers.
    let got = run_fetch(
        &d,
        0,
        &url("/v1/echo"),
        serde_json::json!({ "headers": { "X-Api-Key": "mine", "X-Other": "1" } }),
    );
    assert_eq!(got[0], 200, "{got}");
    let seen = up.requests().pop().expect("upstream reached");
    assert_eq!(seen.header("x-api-key"), Some(SECRET));
    assert_eq!(seen.header("x-other"), Some("1"));
    let text = got[1].as_str().expect("text");
    assert!(text.starts_with("GET /v1/echo"), "{text}");
    assert!(!got.to_string().contains(SECRET), "{got}");
    assert!(text.contains("[redacted]"), "{text}");
    assert_eq!(got[2], "[redacted]");
    assert_eq!(got[3], url("/v1/echo"));

    // `cache: "no-store"` (no cache stands between fetch() and the network) reaches the upstream
    // as the Fetch Standard's request headers, as workerd sends them.
    let got = run_fetch(
        &d,
        0,
        &url("/v1/echo"),
        serde_json::json!({ "cache": "no-store" }),
    );
    assert_eq!(got[0], 200, "{got}");
    let seen = up.requests().pop().expect("upstream reached");
    assert_eq!(seen.header("pragma"), Some("no-cache"));
    assert_eq!(seen.header("cache-control"), Some("no-cache"));

    // Narrowed: method, path (after dot segments), port; another tenant has no rules at all.
    let before = up.requests().len();
    assert_refused(
        &run_fetch(
            &d,
            0,
            &url("/v1/x"),
            serde_json::json!({ "method": "POST", "body": "b" }),
        ),
        "method not allowed",
    );
    assert_refused(
        &run_fetch(&d, 0, &url("/v2/x"), serde_json::json!({})),
        "path not allowed",
    );
    assert_refused(
        &run_fetch(&d, 0, &url("/v1/../v2/x"), serde_json::json!({})),
        "path not allowed",
    );
    assert_refused(
        &run_fetch(
            &d,
            0,
            &format!("http://127.0.0.1:{}/v1/x", other.port),
            serde_json::json!({}),
        ),
        "port not allowed",
    );
    assert_refused(
        &run_fetch(&d, 0, "http://example.invalid/v1/", serde_json::json!({})),
        "host not allowed",
    );
    assert_refused(
        &run_fetch(&d, 1, &url("/v1/x"), serde_json::json!({})),
        "no egress rules",
    );
    assert_eq!(
        up.requests().len(),
        before,
        "no denied request reached the upstream"
    );
    assert!(other.requests().is_empty());

    // A rule whose secret is not set fails by name; the API sets it (tenant or operator) and
    // lists names only; deleting it fails the rule again.
    let later = url("/later/x");
    let put = serde_json::json!({ "method": "PUT" });
    assert_refused(&run_fetch(&d, 0, &later, put.clone()), "\"later\"");
    let (status, body) = put_json(
        &d,
        Some(&tenant_token(1)),
        "/v1/tenants/t0/secrets/later",
        &format!("{{\"value\": \"{LATER}\"}}"),
    );
    assert_eq!(status, 404, "another tenant may not: {body}");
    let (status, body) = put_json(
        &d,
        Some(&tenant_token(0)),
        "/v1/tenants/t0/secrets/later",
        &format!("{{\"value\": \"{LATER}\"}}"),
    );
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({ "name": "later" }))
    );
    let (status, body) = put_json(
        &d,
        Some(OPERATOR),
        "/v1/tenants/t0/secrets/bad%20name",
        &format!("{{\"value\": \"{LATER}\"}}"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(!body.to_string().contains(LATER), "{body}");
    let (status, body) = put_json(
        &d,
        Some(OPERATOR),
        "/v1/tenants/t0/secrets/x",
        &format!("{{\"valu\": \"{LATER}\"}}"),
    );
    assert_eq!(status, 400);
    assert!(!body.to_string().contains(LATER), "{body}");
    let got = run_fetch(&d, 0, &later, put.clone());
    assert_eq!(got[0], 200, "{got}");
    assert_eq!(
        up.requests().pop().expect("reached").header("x-later"),
        Some(LATER)
    );
    assert!(!got.to_string().contains(LATER), "{got}");
    for token in [tenant_token(0), OPERATOR.to_string()] {
        let (status, names) = get_json(&d, Some(&token), "/v1/tenants/t0/secrets");
        assert_eq!(
            (status, names.clone()),
            (200, serde_json::json!({ "names": ["api_key", "later"] }))
        );
    }
    assert_eq!(
        get_json(&d, Some(&tenant_token(1)), "/v1/tenants/t0/secrets").0,
        404
    );
    let r = client()
        .delete(format!("{}/v1/tenants/t0/secrets/later", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    assert_refused(&run_fetch(&d, 0, &later, put), "not set");
    // A secret only the configuration file sets is the operator's to change: 409, and it still
    // works. A value set over the file's and deleted gives the file's back.
    let delete = |name: &str| {
        client()
            .delete(format!("{}/v1/tenants/t0/secrets/{name}", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("delete")
            .status()
            .as_u16()
    };
    assert_eq!(delete("api_key"), 409);
    let (status, _) = put_json(
        &d,
        Some(&tenant_token(0)),
        "/v1/tenants/t0/secrets/api_key",
        "{\"value\": \"an-override-value\"}",
    );
    assert_eq!(status, 200);
    assert_eq!(delete("api_key"), 204);
    assert_eq!(
        run_fetch(&d, 0, &url("/v1/echo"), serde_json::json!({}))[0],
        200
    );
    let seen = up.requests().pop().expect("upstream reached");
    assert_eq!(
        seen.header("x-api-key"),
        Some(SECRET),
        "the file's value again"
    );

    // The audit: every request, allowed or denied, and never a value.
    let (status, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=50");
    assert_eq!(status, 200, "{audit}");
    let records = audit["records"].as_array().expect("records");
    assert!(
        records.iter().any(|r| r["verdict"] == "allowed"
            && r["rule"] == 0
            && r["status"] == 200
            && r["bytesIn"].as_u64() > Some(0)),
        "{audit}"
    );
    assert!(
        records.iter().any(|r| r["verdict"] == "denied"
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.contains("method not allowed"))),
        "{audit}"
    );
    // Code Mode's requests name no worker; a Loader worker's name it.
    assert!(records.iter().all(|r| r["worker"].is_null()), "{audit}");
    let id = load(
        &d,
        &tenant_token(0),
        &format!("export default {{ async fetch() {{ return new Response(String((await fetch('{}')).status)); }} }};", url("/v1/from-a-worker")),
    );
    assert_eq!(fetch(&d, &tenant_token(0), &id), (200, "200".into()));
    let (_, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=50");
    assert!(
        audit["records"]
            .as_array()
            .expect("records")
            .iter()
            .any(|r| r["path"] == "/v1/from-a-worker" && r["worker"] == id.as_str()),
        "{audit}"
    );
    assert_eq!(
        get_json(&d, Some(&tenant_token(0)), "/v1/admin/egress?tenant=t0").0,
        403
    );
    assert_eq!(
        get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=nobody").0,
        404
    );
    let (_, audit1) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t1&limit=5");
    assert_eq!(
        audit1["records"].as_array().map(Vec::len),
        Some(1),
        "{audit1}"
    );

    let everything = format!("{audit}{}", d.stderr());
    assert!(
        d.stderr().contains("stockade: egress {"),
        "audit lines on stderr"
    );
    for value in [SECRET, LATER] {
        assert!(
            !everything.contains(value),
            "a secret value leaked into the audit or the logs"
        );
    }
}

#[test]
fn redirects_are_rechecked_at_every_hop() {
    let b = Upstream::start(Answer::echo);
    let bp = b.port;
    let denied = Upstream::start(|_| Answer::ok(b"should not be reached"));
    let dp = denied.port;
    let a = Upstream::start(move |seen| match seen.target.as_str() {
        "/to-b" => Answer::redirect(302, &format!("http://127.0.0.1:{bp}/landed")),
        "/to-denied" => Answer::redirect(307, &format!("http://127.0.0.1:{dp}/")),
        "/to-metadata" => Answer::redirect(302, "http://169.254.169.254/latest/meta-data/"),
        "/to-private" => Answer::redirect(302, "http://10.0.0.1/"),
        _ => Answer::ok(b"a"),
    });
    let ap = a.port;
    let config = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n{}",
        tenant(
            0,
            &format!(
                "[tenants.secrets]\napi_key = \"{SECRET}\"\n\
                 [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{ap}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n\
                 [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{bp}]\n\
                 [[tenants.egress]]\nhost = \"169.254.169.254\"\n\
                 [[tenants.egress]]\nhost = \"10.0.0.1\"\n"
            )
        ),
    );
    let d = Daemon::start_raw("egress-redirects", 1, &config, &[]);
    let got = run_fetch(
        &d,
        0,
        &format!("http://127.0.0.1:{ap}/to-b"),
        serde_json::json!({}),
    );
    assert_eq!(got[0], 200, "{got}");
    assert_eq!(got[3], format!("http://127.0.0.1:{bp}/landed"));
    assert_eq!(got[4], true);
    assert_eq!(a.requests()[0].header("x-api-key"), Some(SECRET));
    assert_eq!(
        b.requests()[0].header("x-api-key"),
        None,
        "the secret is not carried to another rule's host"
    );
    let manual = run_fetch(
        &d,
        0,
        &format!("http://127.0.0.1:{ap}/to-b"),
        serde_json::json!({ "redirect": "manual" }),
    );
    assert_eq!(manual[0], 302, "{manual}");
    assert_refused(
        &run_fetch(
            &d,
            0,
            &format!("http://127.0.0.1:{ap}/to-b"),
            serde_json::json!({ "redirect": "error" }),
        ),
        "redirect refused",
    );
    assert_refused(
        &run_fetch(
            &d,
            0,
            &format!("http://127.0.0.1:{ap}/to-denied"),
            serde_json::json!({}),
        ),
        "port not allowed",
    );
    assert_refused(
        &run_fetch(
            &d,
            0,
            &format!("http://127.0.0.1:{ap}/to-metadata"),
            serde_json::json!({}),
        ),
        "link-local",
    );
    assert_refused(
        &run_fetch(
            &d,
            0,
            &format!("http://127.0.0.1:{ap}/to-private"),
            serde_json::json!({}),
        ),
        "private",
    );
    assert!(denied.requests().is_empty());
}

#[test]
fn loopback_in_any_spelling_is_refused_without_allow_private() {
    let up = Upstream::start(|_| Answer::ok(b"host service"));
    let p = up.port;
    let rules: String = ["127.0.0.1", "localhost", "::ffff:127.0.0.1", "::1"]
        .iter()
        .map(|h| format!("[[tenants.egress]]\nhost = \"{h}\"\n"))
        .collect();
    let d = Daemon::start_raw("egress-ssrf", 1, &tenant(0, &rules), &[]);
    for url in [
        format!("http://127.0.0.1:{p}/"),
        format!("http://localhost:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://2130706433:{p}/"),
        format!("http://0177.0.0.1:{p}/"),
        format!("http://[::1]:{p}/"),
    ] {
        let got = run_fetch(&d, 0, &url, serde_json::json!({}));
        assert_refused(&got, "not allowed");
        assert!(
            got[2].as_str().is_some_and(|m| m.contains("loopback")),
            "{url}: {got}"
        );
    }
    assert!(
        up.requests().is_empty(),
        "nothing reached the host's loopback"
    );
}

/// A daemon whose tenant 0 may reach port `p` of 127.0.0.1 (`allow_private` loopback).
fn loopback_daemon(name: &str, p: u16) -> Daemon {
    let config = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n{}",
        tenant(
            0,
            &format!("[[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{p}]\n")
        )
    );
    Daemon::start_raw(name, 1, &config, &[])
}

#[test]
fn a_slow_upstream_ends_at_the_wall_limit_without_stalling_other_requests() {
    let slow = Upstream::start(|seen| {
        let mut a = Answer::ok(b"late");
        if seen.target == "/slow" {
            a.delay = Duration::from_secs(20);
        }
        a
    });
    let p = slow.port;
    let d = loopback_daemon("egress-slow", p);
    let base = d.handle();
    let slow_code = fetch_code(&format!("http://127.0.0.1:{p}/slow"), serde_json::json!({}));
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let base = base.clone();
            let code = slow_code.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let r = client()
                    .post(format!("{}/v1/run", base.base))
                    .bearer_auth(tenant_token(0))
                    .json(&serde_json::json!({ "code": code, "limits": { "wallMs": 6000 } }))
                    .send()
                    .expect("run");
                let status = r.status().as_u16();
                let ended = Instant::now();
                (
                    status,
                    r.json::<serde_json::Value>().expect("json"),
                    ended - start,
                    ended,
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Not stalled: every quick fetch is answered while the slow requests still wait (they end
    // only at their 6 s wall limit). Compared by order, so a loaded machine has the slow
    // requests' 6 s for five quick ones; a stall behind the slow fetches would answer after them.
    let mut quick_ends = Vec::new();
    for _ in 0..5 {
        let got = run_fetch(
            &d,
            0,
            &format!("http://127.0.0.1:{p}/fast"),
            serde_json::json!({}),
        );
        assert_eq!(
            (&got[0], &got[1]),
            (&serde_json::json!(200), &serde_json::json!("late")),
            "{got}"
        );
        quick_ends.push(Instant::now());
    }
    for w in waiting {
        let (status, body, took, ended) = w.join().expect("thread");
        assert_eq!(body["error"]["code"], "wall_limit", "{status} {body}");
        // Ended by the wall limit, not by the upstream's answer (20 s).
        assert!(
            took < Duration::from_secs(15),
            "the slow request took {took:?}"
        );
        assert!(
            quick_ends.iter().all(|q| *q < ended),
            "a quick fetch was answered only after a slow request ended"
        );
    }
    // Each hop cut short by its request's end is still audited, as such (written as the hop is
    // dropped, beside the request's answer: waited for).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=50");
        let cut = audit["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| {
                r["path"] == "/slow"
                    && r["verdict"] == "allowed"
                    && r["status"].is_null()
                    && r["reason"] == "the caller's request ended before the answer"
            })
            .count();
        if cut == 4 || Instant::now() > deadline {
            assert_eq!(cut, 4, "{audit}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fetch aborted while its upstream has not answered lets go of the hop at once: the audit
/// records it as aborted within moments, not when the upstream would have answered (20 s) or
/// never (the request's end dropping it unrecorded).
#[test]
fn an_aborted_fetch_lets_go_of_its_upstream_and_is_audited() {
    let slow = Upstream::start(|_| {
        let mut a = Answer::ok(b"late");
        a.delay = Duration::from_secs(20);
        a
    });
    let p = slow.port;
    let d = loopback_daemon("egress-abort", p);
    // The request goes on after the abort (a second timer), so the hop is let go because of
    // the abort, not because the request ended.
    let code = format!(
        "export default async () => {{
  const c = new AbortController();
  setTimeout(() => c.abort(new RangeError('enough')), 200);
  let got;
  try {{ await fetch('http://127.0.0.1:{p}/aborted', {{ signal: c.signal }}); got = 'answered'; }}
  catch (e) {{ got = [e.name, e.message]; }}
  await new Promise((r) => setTimeout(r, 1500));
  return got;
}};"
    );
    let started = Instant::now();
    let (status, body) = post_run(&d, &tenant_token(0), &code, 10_000);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], serde_json::json!(["RangeError", "enough"]));
    assert!(started.elapsed() < Duration::from_secs(15), "{body}");
    let (_, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=10");
    let records = audit["records"].as_array().expect("records");
    let aborted: Vec<_> = records.iter().filter(|r| r["path"] == "/aborted").collect();
    assert_eq!(aborted.len(), 1, "{audit}");
    assert_eq!(aborted[0]["reason"], "the fetch was aborted", "{audit}");
    assert_eq!(aborted[0]["verdict"], "allowed", "{audit}");
    // Let go at the abort (200 ms after the start), not at the request's end (1.7 s).
    let ms = aborted[0]["ms"].as_u64().expect("ms");
    assert!(ms < 1_500, "the hop lasted {ms} ms: {audit}");
    assert_eq!(slow.requests().len(), 1, "the upstream saw the request");
}
