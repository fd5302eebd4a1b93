//! `ctx.exports` and `ctx.props` end to end (a real daemon, jailed workers), as Cloudflare's
//! Dynamic Workers use them: a worker calls its own entrypoints through `ctx.exports.Name`, and
//! `ctx.exports.Name({props})` is a stub whose calls see those props as `ctx.props`; a Loader
//! child's `env` may hold such a stub, so the child reaches the parent's entrypoint with props
//! the parent chose and cannot change (the capability pattern); its `globalOutbound` may be one,
//! so its every `fetch()` reaches the parent's gateway entrypoint with the parent's secrets in
//! props it never sees. A service binding configured
//! with `props` delivers them too. What cannot be had: props on a binding to a worker the parent
//! does not hold with them, and `"self"` outside a Loader child.
mod common;

use common::*;
use serde_json::{json, Value};

const PARENT: &str = r#"
import { WorkerEntrypoint, DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  hi() { return `room ${this.ctx.id.name}`; }
  // A Durable Object's ctx has them too: the entrypoints of the version it runs.
  async viaExports() {
    return [await this.ctx.exports.Api({ props: { user: "room" } }).whoami(), this.ctx.exports.Room === this.env.ROOMS];
  }
}
export class Api extends WorkerEntrypoint {
  whoami() { return `user ${this.ctx.props.user ?? "none"}`; }
  async fetch(req) { return new Response(`fetched as ${this.ctx.props.user}`); }
}
export class Counter { }
// The gateway a child's fetches go to: it holds what the child never sees.
export class Gate extends WorkerEntrypoint {
  async fetch(req) {
    return new Response(`gate ${this.ctx.props.key === "s3cret" ? "authorized" : "refused"} ${req.method} ${req.url}`);
  }
}
export default {
  async fetch(req, env, ctx) {
    const out = {};
    out.direct = await ctx.exports.Api.whoami();
    out.withProps = await ctx.exports.Api({ props: { user: "alice" } }).whoami();
    out.fetched = await (await ctx.exports.Api({ props: { user: "ann" } }).fetch("http://x/")).text();
    out.keys = Object.keys(ctx.exports);
    // A Durable Object class: its namespace.
    out.room = ctx.exports.Room === env.ROOMS ? await ctx.exports.Room.getByName("a").hi() : "another object";
    out.fromRoom = await env.ROOMS.getByName("a").viaExports();
    out.ownProps = ctx.props;
    try { ctx.exports.Api({ props: [1] }); } catch (e) { out.badProps = e.name; }
    const child = env.LOADER.load({
      compatibilityDate: "2025-06-01",
      mainModule: "c.js",
      modules: { "c.js": `export default { async fetch(req, env, ctx) {
        return Response.json([await env.API.whoami(), await (await env.API.fetch("http://x/")).text(), ctx.props]);
      } };` },
      env: { API: ctx.exports.Api({ props: { user: "bob" } }) },
    });
    out.child = await (await child.getEntrypoint().fetch("http://c/")).json();
    // The parent may give its child's entrypoint props of its own (Cloudflare's getEntrypoint options).
    out.childProps = (await (await child.getEntrypoint(undefined, { props: { user: "dan" } }).fetch("http://c/")).json())[2];
    const gated = env.LOADER.load({
      compatibilityDate: "2025-06-01",
      mainModule: "g.js",
      modules: { "g.js": `export default { async fetch() {
        return new Response(await (await fetch("https://api.example.com/v1/x", { method: "POST", body: "b" })).text());
      } };` },
      globalOutbound: ctx.exports.Gate({ props: { key: "s3cret" } }),
    });
    out.gated = await (await gated.getEntrypoint().fetch("http://g/")).text();
    return Response.json(out);
  },
};
"#;

#[test]
fn ctx_exports_reach_the_workers_own_entrypoints_with_the_props_it_chose_also_from_a_child() {
    let d = Daemon::start("ctx-exports", 1, 1, "");
    let t = tenant_token(0);
    let parent = load_with_env(
        &d,
        &t,
        PARENT,
        json!({ "LOADER": { "binding": "loader" },
                "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } }),
    );
    let (status, text) = fetch(&d, &t, &parent);
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        got,
        json!({
            "direct": "user none", "withProps": "user alice", "fetched": "fetched as ann",
            "keys": ["Api", "Counter", "Gate", "Room", "default"], "room": "room a", "fromRoom": ["user room", true], "ownProps": {}, "badProps": "TypeError",
            "child": ["user bob", "fetched as bob", {}], "childProps": { "user": "dan" },
            "gated": "gate authorized POST https://api.example.com/v1/x",
        }),
        "{text}"
    );
}

#[test]
fn props_come_only_from_a_binding_the_tenant_configured_or_a_parent_for_itself() {
    let d = Daemon::start("ctx-props", 1, 1, "");
    let t = tenant_token(0);
    let api = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  who() { return this.ctx.props; }
  mutate() { this.ctx.props.user = "changed"; return this.ctx.props; }
  fetch() { return Response.json(this.ctx.props); }
}"#,
    );
    // Configured by the tenant (as wrangler's props on a service binding).
    let caller = load_with_env(
        &d,
        &t,
        r#"export default { async fetch(req, env) {
          const out = { configured: await env.API.who() };
          // Each call's props are its own.
          out.mutated = [await env.API.mutate(), await env.API.who()];
          const child = (code) => env.LOADER.load({ compatibilityDate: "2025-06-01", mainModule: "m.js",
            modules: { "m.js": "export default { async fetch() { try { return new Response(await (await fetch('http://api/')).text()); } catch (e) { return new Response('refused: ' + e.message); } } }" }, ...code });
          const use = async (make) => { try { return await (await make().getEntrypoint().fetch("http://x/")).text(); } catch (e) { return `refused: ${e.message}`; } };
          // Its globalOutbound: a binding the parent holds, props included; not props it chose.
          out.heldOutbound = await use(() => child({ globalOutbound: env.API }));
          out.forgedOutbound = await use(() => child({ globalOutbound: { worker: env.API_ID, props: { user: "root" } } }));
          // A binding stands only as a value of env or as globalOutbound (elsewhere its props would be data).
          out.nested = await use(() => child({ env: { CFG: { api: env.API } } }));
          // Nor does the env object, reused elsewhere (as a JSON module, say), carry one there.
          const E = { API: env.API };
          out.reused = await use(() => child({ env: E, modules: { "m.js": "export default {}", "p.json": { json: E } } }));
          // The props in this isolate never reach a toJSON of tenant code.
          const seen = [];
          Object.prototype.toJSON = function () { if (this !== null && this.user !== undefined) seen.push(this.user); return this; };
          try { out.passedOn = await use(() => child({ env: { API: env.API } })); }
          finally { delete Object.prototype.toJSON; }
          out.seen = seen;
          // A child may hold the parent's own binding as it is, not with props of its own choosing.
          const forged = env.LOADER.load({ compatibilityDate: "2025-06-01", mainModule: "m.js",
            modules: { "m.js": "export default { fetch() { return new Response('ran'); } }" },
            env: { API: { binding: "service", worker: env.API_ID, props: { user: "root" } } } });
          try { await (await forged.getEntrypoint().fetch("http://x/")).text(); out.forged = "ran"; }
          catch (e) { out.forged = e.message; }
          return Response.json(out);
        } };"#,
        json!({
            "API": { "binding": "service", "worker": api, "props": { "user": "carol" } },
            "API_ID": api,
            "LOADER": { "binding": "loader" },
        }),
    );
    let (status, text) = fetch(&d, &t, &caller);
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(got["configured"], json!({ "user": "carol" }), "{text}");
    assert_eq!(
        got["mutated"],
        json!([{ "user": "changed" }, { "user": "carol" }]),
        "{text}"
    );
    assert_eq!(got["heldOutbound"], r#"{"user":"carol"}"#, "{text}");
    let refused = |field: &str, why: &str| {
        assert!(
            got[field].as_str().is_some_and(|m| m.contains(why)),
            "{field}: {text}"
        );
    };
    refused("forgedOutbound", "only as the parent holds them");
    refused(
        "nested",
        "stands only as a value of env or as globalOutbound",
    );
    refused(
        "reused",
        "stands only as a value of env or as globalOutbound",
    );
    // Made (the binding passed on as it is), and run: its fetch meets the tenant's (empty) policy.
    refused("passedOn", "egress to api:80 denied");
    assert_eq!(got["seen"], json!([]), "{text}");
    assert!(
        got["forged"]
            .as_str()
            .is_some_and(|m| m.contains("parent worker holds no such binding")),
        "{text}"
    );
    // "self" is a Loader child's only, in env and in globalOutbound.
    let (status, body) = create_worker(
        &d,
        &t,
        &json!({ "mainModule": "m.js", "modules": { "m.js": "export default {}" },
                 "env": { "ME": { "binding": "service", "self": true } } }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("self"), "{body}");
    let (status, body) = create_worker(
        &d,
        &t,
        &json!({ "mainModule": "m.js", "modules": { "m.js": "export default {}" },
                 "globalOutbound": { "self": true } }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("self"), "{body}");
    // A tenant's own globalOutbound may name an entrypoint and props; they are kept and shown.
    let (status, body) = create_worker(
        &d,
        &t,
        &json!({ "mainModule": "m.js", "modules": { "m.js": "export default {}" },
                 "globalOutbound": { "worker": api, "entrypoint": "Gate", "props": { "k": 1 } } }),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id");
    let (_, shown) = get_json(&d, Some(&t), &format!("/v1/workers/{id}"));
    assert_eq!(
        shown["globalOutbound"],
        json!({ "worker": api, "entrypoint": "Gate", "props": { "k": 1 } }),
        "{shown}"
    );
    // Props are an object, and small.
    for props in [json!([1]), json!({ "x": "y".repeat(20_000) })] {
        let (status, body) = create_worker(
            &d,
            &t,
            &json!({ "mainModule": "m.js", "modules": { "m.js": "export default {}" },
                     "env": { "A": { "binding": "service", "worker": api, "props": props } } }),
        );
        assert_eq!(status, 400, "{body}");
    }
}

#[test]
fn a_parent_and_a_child_that_hand_a_request_back_and_forth_stop_at_the_chains_depth() {
    let d = Daemon::start("ctx-loop", 1, 1, "");
    let t = tenant_token(0);
    // The child's every fetch goes to its parent, whose fetch asks the child again: each hop is
    // one more call of the first request's chain, so it ends at `max_binding_depth`.
    let parent = load_with_env(
        &d,
        &t,
        r#"export default { async fetch(req, env, ctx) {
          const child = env.LOADER.load({ compatibilityDate: "2025-06-01", mainModule: "c.js",
            modules: { "c.js": "export default { async fetch() { try { return await fetch('http://parent/'); } catch (e) { return new Response('stopped: ' + e.message); } } }" },
            globalOutbound: ctx.exports.default });
          try { return await child.getEntrypoint().fetch("http://child/"); }
          catch (e) { return new Response(`stopped: ${e.message}`); }
        } };"#,
        json!({ "LOADER": { "binding": "loader" } }),
    );
    let (status, text) = fetch(&d, &t, &parent);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.starts_with("stopped: ") && text.contains("nest at most 8 deep"),
        "{text}"
    );
}

#[test]
fn a_scheduled_handler_has_ctx_exports_too() {
    let d = Daemon::start("ctx-scheduled", 1, 1, "");
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        r#"import { WorkerEntrypoint } from "cloudflare:workers";
export class Api extends WorkerEntrypoint { whoami() { return `user ${this.ctx.props.user}`; } }
export default {
  fetch() { return new Response("ok"); },
  async scheduled(controller, env, ctx) {
    console.log(`${await ctx.exports.Api({ props: { user: "cron" } }).whoami()} ${JSON.stringify(ctx.props)}`);
  },
};"#,
    );
    let r = client()
        .post(format!("{}/v1/workers/{id}/scheduled", d.base()))
        .bearer_auth(&t)
        .send()
        .expect("scheduled");
    let body: Value = r.json().expect("json");
    assert_eq!(body["outcome"], "ok", "{body}");
    assert!(body.to_string().contains("user cron {}"), "{body}");
}
