//! Gradual deployments end to end (a real daemon, jailed workers, the SQLite store): `PUT
//! /v1/workers/{name}/deployment` splits a name's requests between two of its versions; the
//! larger share is the current version, with the name's cron triggers; a version-affinity key
//! always reaches one version and keys spread by the shares; an override names a version of the
//! deployment; service bindings by name are split too; bad deployments are clear errors; a name's
//! Durable Objects are split by object (each runs one version, and moves only toward the growing
//! one); the split survives `kill -9`; a new version, or the other version's delete, ends it.
mod common;

use common::*;
use serde_json::{json, Value};

fn version(v: &str, crons: &[&str]) -> Value {
    json!({
        "name": "web",
        "mainModule": "main.js",
        "modules": { "main.js": format!("export default {{ fetch() {{ return new Response('{v}'); }}, scheduled() {{}} }};") },
        "triggers": { "crons": crons },
    })
}

fn created(d: &Daemon, t: &str, body: &Value) -> String {
    let (status, v) = create_worker(d, t, body);
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

fn deploy(d: &Daemon, t: &str, name: &str, versions: Value) -> (u16, Value) {
    let body = json!({ "versions": versions }).to_string();
    put_json(d, Some(t), &format!("/v1/workers/{name}/deployment"), &body)
}

/// One request to `web` with `headers`: the version that answered.
fn served(d: &Daemon, t: &str, headers: &[(&str, &str)]) -> String {
    let mut request = client()
        .get(format!("{}/v1/workers/web/fetch/", d.base()))
        .bearer_auth(t);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().expect("fetch");
    assert_eq!(response.status().as_u16(), 200);
    response.text().expect("text")
}

fn crons_of(d: &Daemon, t: &str, worker: &str) -> Value {
    let (status, v) = get_json(d, Some(t), &format!("/v1/workers/{worker}/triggers"));
    assert_eq!(status, 200, "{v}");
    v["crons"].clone()
}

#[test]
fn a_name_splits_its_requests_between_two_versions_by_their_shares() {
    let config = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n",
        tenant_token(0),
        tenant_token(1)
    );
    let d = Daemon::start_raw("deployments", 1, &config, &[]);
    let t = tenant_token(0);
    let v1 = created(&d, &t, &version("v1", &["1 * * * *"]));
    let v2 = created(&d, &t, &version("v2", &["2 * * * *"]));
    let (status, whole) = get_json(&d, Some(&t), "/v1/workers/web/deployment");
    assert_eq!(status, 200, "{whole}");
    assert_eq!(
        whole["versions"],
        json!([{ "id": v2, "percentage": 100.0 }])
    );

    // 90% stay on v1, which is the current version again (with its crons); 10% try v2.
    let (status, split) = deploy(
        &d,
        &t,
        "web",
        json!([{ "id": v2, "percentage": 10 }, { "id": v1, "percentage": 90 }]),
    );
    assert_eq!(status, 200, "{split}");
    assert_eq!(
        split["versions"],
        json!([{ "id": v1, "percentage": 90.0 }, { "id": v2, "percentage": 10.0 }])
    );
    let (_, described) = get_json(&d, Some(&t), "/v1/workers/web");
    assert_eq!(described["id"], json!(v1));
    assert_eq!(crons_of(&d, &t, "web"), json!(["1 * * * *"]));

    // Version affinity: a key always reaches one version; 200 keys spread about 10%.
    let mut on_v2 = 0;
    for i in 0..200 {
        let key = format!("user-{i}");
        let first = served(&d, &t, &[("Cloudflare-Workers-Version-Key", &key)]);
        let again = served(&d, &t, &[("Cloudflare-Workers-Version-Key", &key)]);
        assert_eq!(first, again, "{key}");
        on_v2 += usize::from(first == "v2");
    }
    assert!((5..=40).contains(&on_v2), "{on_v2} of 200 keys on v2");
    // An override names a version of the deployment; another id is no override.
    let pin_v2 = format!("web=\"{v2}\"");
    for _ in 0..10 {
        assert_eq!(
            served(&d, &t, &[("Cloudflare-Workers-Version-Overrides", &pin_v2)]),
            "v2"
        );
    }
    let v3 = created(&d, &t, &version("v3", &[]));
    // v3 is new: it is the whole deployment now. Back to a split of v1 and v2 at 50%.
    assert_eq!(served(&d, &t, &[]), "v3");
    let (status, _) = deploy(
        &d,
        &t,
        "web",
        json!([{ "id": v1, "percentage": 50 }, { "id": v2, "percentage": 50 }]),
    );
    assert_eq!(status, 200);
    let pin_v3 = format!("web=\"{v3}\"");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        seen.insert(served(
            &d,
            &t,
            &[("Cloudflare-Workers-Version-Overrides", &pin_v3)],
        ));
    }
    assert_eq!(
        seen,
        ["v1".to_owned(), "v2".to_owned()].into(),
        "random rolls reach both; v3 is not deployed"
    );
    // A service binding by name is split the same way.
    let caller = load_with_env(
        &d,
        &t,
        "export default { async fetch(req, env) { return env.S.fetch(req); } };",
        json!({ "S": { "binding": "service", "worker": "web" } }),
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let (status, text) = fetch(&d, &t, &caller);
        assert_eq!(status, 200);
        seen.insert(text);
    }
    assert_eq!(seen, ["v1".to_owned(), "v2".to_owned()].into());

    // Bad deployments change nothing.
    for (versions, status) in [
        (
            json!([{ "id": v1, "percentage": 50 }, { "id": v2, "percentage": 40 }]),
            400,
        ),
        (
            json!([{ "id": v1, "percentage": 50.001 }, { "id": v2, "percentage": 49.999 }]),
            400,
        ),
        (
            json!([{ "id": v1, "percentage": 0 }, { "id": v2, "percentage": 100 }]),
            400,
        ),
        (
            json!([{ "id": v1, "percentage": 50 }, { "id": v1, "percentage": 50 }]),
            400,
        ),
        (
            json!([{ "id": v1, "percentage": 40 }, { "id": v2, "percentage": 30 }, { "id": v3, "percentage": 30 }]),
            400,
        ),
        (json!([{ "id": caller, "percentage": 100 }]), 400),
        (json!([{ "id": "0".repeat(64), "percentage": 100 }]), 404),
    ] {
        let (got, body) = deploy(&d, &t, "web", versions.clone());
        assert_eq!(got, status, "{versions}: {body}");
    }
    assert_eq!(
        deploy(&d, &t, &v1, json!([{ "id": v1, "percentage": 100 }])).0,
        400
    );
    assert_eq!(
        deploy(&d, &t, "nothing", json!([{ "id": v1, "percentage": 100 }])).0,
        400
    );
    // Another tenant's `web` is its own: it has none.
    let other = tenant_token(1);
    assert_eq!(
        get_json(&d, Some(&other), "/v1/workers/web/deployment").0,
        404
    );
    let body = json!([{ "id": v1, "percentage": 100 }]);
    assert_eq!(deploy(&d, &other, "web", body).0, 404);

    // The split survives kill -9.
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &config, &[]);
    let (_, after) = get_json(&d, Some(&t), "/v1/workers/web/deployment");
    assert_eq!(
        after["versions"],
        json!([{ "id": v1, "percentage": 50.0 }, { "id": v2, "percentage": 50.0 }])
    );
    // Deleting the other version ends the split.
    let deleted = client()
        .delete(format!("{}/v1/workers/{v2}", d.base()))
        .bearer_auth(&t)
        .send()
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    let (_, after) = get_json(&d, Some(&t), "/v1/workers/web/deployment");
    assert_eq!(
        after["versions"],
        json!([{ "id": v1, "percentage": 100.0 }])
    );
    for _ in 0..10 {
        assert_eq!(served(&d, &t, &[]), "v1");
    }
}

#[test]
fn each_durable_object_of_a_split_name_runs_one_version_and_moves_only_toward_the_growing_one() {
    let config = format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("deployments-do", 1, &config, &[]);
    let t = tenant_token(0);
    // Each answer: the version, the calls this instance has seen, and the object's stored count.
    let room = |v: &str| {
        json!({
            "name": "rooms",
            "mainModule": "main.js",
            "modules": { "main.js": format!(r#"import {{ DurableObject }} from "cloudflare:workers";
export class Room extends DurableObject {{
  constructor(ctx, env) {{ super(ctx, env); this.seen = 0; }}
  hi() {{ this.seen++; const n = (this.ctx.storage.kv.get("n") ?? 0) + 1; this.ctx.storage.kv.put("n", n); return `{v} ${{this.seen}} ${{n}}`; }}
}}
export default {{ async fetch(req, env) {{
  return new Response(await env.ROOMS.getByName(new URL(req.url).searchParams.get("room")).hi());
}} }};"#) },
            "env": { "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } },
        })
    };
    let hi = |room: usize| -> Vec<String> {
        let response = client()
            .get(format!("{}/v1/workers/rooms/fetch/?room=r{room}", d.base()))
            .bearer_auth(&t)
            .send()
            .expect("fetch");
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().expect("text");
        text.split(' ').map(str::to_owned).collect()
    };
    let r1 = created(&d, &t, &room("r1"));
    let r2 = created(&d, &t, &room("r2"));
    let (status, body) = deploy(
        &d,
        &t,
        "rooms",
        json!([{ "id": r1, "percentage": 50 }, { "id": r2, "percentage": 50 }]),
    );
    assert_eq!(status, 200, "{body}");
    // Forty objects, each called twice: the same version both times (the same instance: its
    // second call is its second), and both versions among them.
    let mut on = Vec::new();
    for room in 0..40 {
        let first = hi(room);
        let second = hi(room);
        assert_eq!(
            first[0], second[0],
            "room {room} changed version: {first:?} {second:?}"
        );
        assert_eq!(
            (first[1].as_str(), second[1].as_str()),
            ("1", "2"),
            "room {room}"
        );
        on.push(first[0].clone());
    }
    let count = |v: &str| on.iter().filter(|x| *x == v).count();
    assert!(count("r1") >= 5 && count("r2") >= 5, "{on:?}");
    // r2 to 100%: every object runs r2; those on r2 already keep their instance, those on r1 are
    // reset (a fresh instance), and every object keeps its storage.
    let (status, body) = deploy(&d, &t, "rooms", json!([{ "id": r2, "percentage": 100 }]));
    assert_eq!(status, 200, "{body}");
    for (room, was) in on.iter().enumerate() {
        let now = hi(room);
        assert_eq!(now[0], "r2", "room {room}");
        let seen = if was == "r2" { "3" } else { "1" };
        assert_eq!(
            (now[1].as_str(), now[2].as_str()),
            (seen, "3"),
            "room {room} was on {was}"
        );
    }
}
