//! The Loader API's `globalOutbound`, end to end (real daemon, real jailed workers): absent, a
//! worker's `fetch()` follows its tenant's egress policy; `null`, it has no network at all;
//! `{"worker": id}`, its requests are delivered to that worker's fetch handler.
mod common;
use common::*;

fn create(
    d: &Daemon,
    token: &str,
    main: &str,
    outbound: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut body = serde_json::json!({ "mainModule": "main.ts", "modules": { "main.ts": main } });
    if let Some(outbound) = outbound {
        body["globalOutbound"] = outbound;
    }
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("create");
    (r.status().as_u16(), r.json().expect("json"))
}

fn id_of(created: (u16, serde_json::Value)) -> String {
    assert_eq!(created.0, 201, "{}", created.1);
    created.1["id"].as_str().expect("id").to_string()
}

const CALLER: &str = "export default { async fetch() { try { const r = await fetch('https://api.example.com/p?q=1', { method: 'POST', headers: { 'x-t': '1' }, body: 'hi' }); return new Response(`${r.status} ${r.headers.get('x-from')} ${r.url} ${await r.text()}`); } catch (e) { return new Response(`${e.constructor.name}: ${e.message}`); } } };";

#[test]
fn global_outbound_routes_fetch_to_a_worker_to_nowhere_or_through_the_policy() {
    let d = Daemon::start("outbound", 2, 1, "");
    let t0 = tenant_token(0);
    let target = id_of(create(
        &d,
        &t0,
        "export default { async fetch(req: Request) { return new Response(`B saw ${req.method} ${new URL(req.url).pathname} ${req.headers.get('x-t')} ${await req.text()}`, { status: 201, headers: { 'x-from': 'b' } }); } };",
        None,
    ));
    let routed = id_of(create(
        &d,
        &t0,
        CALLER,
        Some(serde_json::json!({ "worker": target })),
    ));
    assert_eq!(
        fetch(&d, &t0, &routed),
        (
            200,
            "201 b https://api.example.com/p?q=1 B saw POST /p 1 hi".into()
        )
    );
    let blocked = id_of(create(&d, &t0, CALLER, Some(serde_json::Value::Null)));
    let (status, text) = fetch(&d, &t0, &blocked);
    assert_eq!(status, 200);
    assert!(
        text.starts_with("TypeError") && text.contains("no network"),
        "{text}"
    );
    let policy = id_of(create(&d, &t0, CALLER, None));
    let (_, text) = fetch(&d, &t0, &policy);
    assert!(text.contains("no egress rules"), "{text}");
    assert!(
        routed != blocked && blocked != policy,
        "globalOutbound is part of the id"
    );

    let (_, described) = get_json(&d, Some(&t0), &format!("/v1/workers/{routed}"));
    assert_eq!(
        described["globalOutbound"],
        serde_json::json!({ "worker": target })
    );
    let (_, described) = get_json(&d, Some(&t0), &format!("/v1/workers/{blocked}"));
    assert_eq!(described["globalOutbound"], serde_json::Value::Null);

    // Only an existing worker of the same tenant.
    for outbound in [
        serde_json::json!({ "worker": "00" }),
        serde_json::json!({ "worker": target }),
        serde_json::json!({ "service": "x" }),
    ] {
        let token = if outbound.get("worker") == Some(&serde_json::json!(target)) {
            tenant_token(1)
        } else {
            t0.clone()
        };
        let (status, body) = create(&d, &token, CALLER, Some(outbound.clone()));
        assert_eq!(status, 400, "{outbound}: {body}");
    }

    let (_, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0");
    let records = audit["records"].as_array().expect("records");
    assert!(
        records
            .iter()
            .any(|r| r["scheme"] == "worker" && r["host"] == target.as_str() && r["status"] == 201),
        "{audit}"
    );
    assert!(
        records.iter().any(|r| r["verdict"] == "denied"
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.contains("globalOutbound is null"))),
        "{audit}"
    );
}
