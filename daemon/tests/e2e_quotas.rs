//! Per-tenant quotas against a real daemon: request rate (token bucket), concurrent requests and
//! worker definitions, each answered 429 with `Retry-After`, per tenant, with overrides.
mod common;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn run_status(d: &impl Target, token: &str) -> (u16, Option<String>, Value) {
    let r = client()
        .post(format!("{}/v1/run", d.base()))
        .bearer_auth(token)
        .json(&serde_json::json!({ "code": "export default () => 1" }))
        .send()
        .expect("run");
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (r.status().as_u16(), retry, r.json().unwrap_or(Value::Null))
}

#[test]
fn a_tenant_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    // t0: a request every 2 s, a burst of 3 (slow enough that six requests in a row on a
    // loaded machine do not earn two more); t1 the defaults.
    let d = Daemon::start_raw(
        "quota-rate",
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[tenants.quotas]\nrequests_per_second = 0.5\nburst = 3\n\
             [[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n",
            tenant_token(0),
            tenant_token(1)
        ),
        &[],
    );
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let answers: Vec<_> = (0..6).map(|_| run_status(&d, &t0)).collect();
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    // The burst, and perhaps a token that came due meanwhile; never all six.
    assert!((3..=4).contains(&ok), "{answers:?}");
    assert_eq!(ok + limited.len(), 6, "{answers:?}");
    for (_, retry, body) in &limited {
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        // Whole seconds until the next token: at most 2.
        assert!(
            matches!(retry.as_deref(), Some("1" | "2")),
            "{retry:?} {body}"
        );
    }
    // Another tenant is not limited by t0's rate.
    for _ in 0..6 {
        assert_eq!(run_status(&d, &t1).0, 200);
    }
    // The bucket refills at the configured rate.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(run_status(&d, &t0).0, 200);
    // The hits are counted for the operator.
    let metrics = d.metrics();
    assert!(
        metrics.contains("stockade_limit_hits_total{tenant=\"t0\",kind=\"rate\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "stockade_requests_total{tenant=\"t0\",route=\"run\",outcome=\"rate_limited\"}"
        ),
        "{metrics}"
    );
}

#[test]
fn a_tenant_over_its_concurrent_requests_gets_429_until_one_ends() {
    let d = Daemon::start_raw(
        "quota-concurrency",
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[tenants.quotas]\nmax_concurrent_requests = 2\n",
            tenant_token(0)
        ),
        &[],
    );
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let h = d.handle();
            std::thread::spawn(move || {
                client()
                    .post(format!("{}/v1/run", h.base))
                    .bearer_auth(tenant_token(0))
                    .json(&serde_json::json!({"code": "export default () => new Promise((r) => setTimeout(() => r('slept'), 1500));"}))
                    .send()
                    .expect("slow")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    // Wait until both are being served.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.admin()["workers"].as_array().map_or(0, |w| {
        w.iter()
            .map(|p| p["inFlight"].as_u64().unwrap_or(0))
            .sum::<u64>()
    }) < 2
    {
        assert!(std::time::Instant::now() < deadline, "never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, retry, body) = run_status(&d, &tenant_token(0));
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["error"]["code"], "too_many_concurrent_requests",
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("1"));
    for s in slow {
        assert_eq!(s.join().expect("thread"), 200);
    }
    // Their places are released with their responses.
    assert_eq!(run_status(&d, &tenant_token(0)).0, 200);
}

#[test]
fn a_stray_data_plane_token_header_does_not_lift_a_tenants_concurrency_quota() {
    // `X-Stockade-Token: garbage` beside a valid `Authorization` used to make the edge see no
    // tenant (so no quota) while the handler served the tenant of `Authorization`: 30
    // concurrent requests all ran under a cap of 3. The edge and the handlers now decide the
    // principal by the same function.
    let d = Daemon::start_raw(
        "quota-token-header",
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[tenants.quotas]\nmax_concurrent_requests = 2\n",
            tenant_token(0)
        ),
        &[],
    );
    let id = load(
        &d,
        &tenant_token(0),
        "export default { fetch() { return new Response('hi'); } };",
    );
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let h = d.handle();
            std::thread::spawn(move || {
                client()
                    .post(format!("{}/v1/run", h.base))
                    .bearer_auth(tenant_token(0))
                    .header("x-stockade-token", "garbage")
                    .json(&serde_json::json!({"code": "export default () => new Promise((r) => setTimeout(() => r('slept'), 1500));"}))
                    .send()
                    .expect("slow")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.admin()["workers"].as_array().map_or(0, |w| {
        w.iter()
            .map(|p| p["inFlight"].as_u64().unwrap_or(0))
            .sum::<u64>()
    }) < 2
    {
        assert!(std::time::Instant::now() < deadline, "never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Both count against t0's cap of 2: a third request is refused, with or without the header.
    let (status, _, body) = run_status(&d, &tenant_token(0));
    assert_eq!(status, 429, "{body}");
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .header("x-stockade-token", "garbage")
        .json(&serde_json::json!({ "code": "export default () => 1" }))
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 429);
    let body: Value = r.json().expect("json");
    assert_eq!(
        body["error"]["code"], "too_many_concurrent_requests",
        "{body}"
    );
    // On the data plane the header is the token: a wrong one is a 401, not a free pass.
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(tenant_token(0))
        .header("x-stockade-token", "garbage")
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 401);
    for s in slow {
        assert_eq!(s.join().expect("thread"), 200);
    }
    assert_eq!(run_status(&d, &tenant_token(0)).0, 200);
}

#[test]
fn worker_definitions_are_capped_by_count_and_bytes_per_tenant() {
    let d = Daemon::start_raw(
        "quota-workers",
        1,
        &format!(
            "[quotas]\nmax_workers = 2\nmax_worker_bytes = 300000\n\
             [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n",
            tenant_token(0),
            tenant_token(1)
        ),
        &[],
    );
    let create = |token: &str, main: &str| {
        let body = serde_json::json!({ "mainModule": "main.js", "modules": { "main.js": main } });
        let r = client()
            .post(format!("{}/v1/workers", d.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .expect("create");
        let retry = r.headers().contains_key("retry-after");
        let status = r.status().as_u16();
        (status, retry, r.json::<Value>().expect("json"))
    };
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let one = "export default { fetch() { return new Response('1'); } };";
    let (status, _, first) = create(&t0, one);
    assert_eq!(status, 201);
    // The same definition again is the same worker, not a new one.
    assert_eq!(create(&t0, one).0, 201);
    assert_eq!(
        create(
            &t0,
            "export default { fetch() { return new Response('2'); } };"
        )
        .0,
        201
    );
    let (status, retry, body) = create(
        &t0,
        "export default { fetch() { return new Response('3'); } };",
    );
    assert_eq!(status, 429, "{body}");
    assert!(retry);
    assert_eq!(body["error"]["code"], "worker_quota_exceeded", "{body}");
    // Another tenant has its own count; its size quota holds too.
    let big = format!(
        "export default {{ fetch() {{ return new Response('{}'); }} }};",
        "x".repeat(200_000)
    );
    assert_eq!(create(&t1, &big).0, 201);
    let bigger = format!(
        "export default {{ fetch() {{ return new Response('{}'); }} }};",
        "y".repeat(200_000)
    );
    let (status, _, body) = create(&t1, &bigger);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("worker_quota_exceeded")),
        "{body}"
    );
    // Deleting one frees its place.
    let id = first["id"].as_str().expect("id");
    let r = client()
        .delete(format!("{}/v1/workers/{id}", d.base))
        .bearer_auth(&t0)
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        create(
            &t0,
            "export default { fetch() { return new Response('3'); } };"
        )
        .0,
        201
    );
}

/// A Loader worker's children count toward its tenant's `max_workers`; `GET /v1/workers` lists
/// them (they have no id tenant code sees), so the tenant can delete them and make room again.
#[test]
fn loader_children_are_listed_and_deleted_to_free_the_workers_quota() {
    let d = Daemon::start_raw(
        "quota-children",
        1,
        &format!(
            "[quotas]\nmax_workers = 3\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
            tenant_token(0)
        ),
        &[],
    );
    let t = tenant_token(0);
    let parent = load_code(
        &d,
        &t,
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": "export default { async fetch(req, env) {
  const n = new URL(req.url).pathname.slice(1);
  const child = env.LOADER.load({ mainModule: 'c.js', modules: { 'c.js': `export default { v() { return ${JSON.stringify(n)}; } }` } });
  try { return new Response(await child.getEntrypoint().v()); } catch (e) { return new Response(e.name); }
} };" },
            "env": { "LOADER": { "binding": "loader" } },
        }),
    );
    let child = |n: &str| {
        let r = client()
            .get(format!("{}/v1/workers/{parent}/fetch/{n}", d.base))
            .bearer_auth(&t)
            .send()
            .expect("fetch");
        r.text().expect("text")
    };
    assert_eq!(child("one"), "one");
    assert_eq!(child("two"), "two");
    assert_eq!(
        child("three"),
        "QuotaExceededError",
        "the parent and two children"
    );
    let list = |token: &str| {
        let r = client()
            .get(format!("{}/v1/workers", d.base))
            .bearer_auth(token)
            .send()
            .expect("list");
        assert_eq!(r.status().as_u16(), 200);
        r.json::<Value>().expect("json")
    };
    let listed = list(&t);
    assert_eq!(listed["count"], 3, "{listed}");
    let ids: Vec<String> = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids[0], parent, "oldest first: {listed}");
    for id in &ids[1..] {
        let r = client()
            .delete(format!("{}/v1/workers/{id}", d.base))
            .bearer_auth(&t)
            .send()
            .expect("delete");
        assert_eq!(r.status().as_u16(), 204);
    }
    assert_eq!(list(&t)["count"], 1);
    assert_eq!(child("three"), "three", "room again");
}
