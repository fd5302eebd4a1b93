//! `nodejs_compat`, `cloudflare:workers` and compatibility dates and flags through the Loader API
//! of a real daemon with jailed workers.
mod common;
use common::*;

/// POST /v1/workers with `body`: (status, JSON answer).
fn create(d: &Daemon, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&body)
        .send()
        .expect("create");
    (r.status().as_u16(), r.json().expect("json"))
}

fn get(d: &Daemon, id: &str, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch{path}", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    (r.status().as_u16(), r.text().expect("text"))
}

const NODE_APP: &str = r#"
import { Buffer } from "node:buffer";
import { EventEmitter, once } from "node:events";
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, createHmac } from "node:crypto";
import { WorkerEntrypoint, env as boundEnv } from "cloudflare:workers";

const als = new AsyncLocalStorage<{ id: string }>();

export default class extends WorkerEntrypoint {
  async fetch(request: Request): Promise<Response> {
    const id = new URL(request.url).searchParams.get("id") ?? "none";
    return als.run({ id }, async () => {
      const bus = new EventEmitter();
      const later = once(bus, "tick");
      setTimeout(() => bus.emit("tick", als.getStore()?.id), 2);
      const [fromTimer] = await later;
      await new Promise((r) => setTimeout(r, 1));
      const body = Buffer.from(await request.text());
      return Response.json({
        id: als.getStore()?.id,
        fromTimer,
        sha256: createHash("sha256").update(body).digest("hex"),
        hmac: createHmac("sha1", this.env.KEY).update("x").digest("base64"),
        b64: body.toString("base64"),
        globalBuffer: typeof globalThis.Buffer,
        processEnv: process.env.KEY,
        sameEnv: boundEnv === this.env,
      });
    });
  }
}
"#;

#[test]
fn nodejs_compat_modules_and_a_worker_entrypoint_class_serve_through_the_loader_api() {
    let d = Daemon::start("node", 1, 1, "");
    let (status, v) = create(
        &d,
        serde_json::json!({
            "mainModule": "main.ts",
            "modules": { "main.ts": NODE_APP },
            "env": { "KEY": "k1" },
            "compatibilityDate": "2025-06-01",
            "compatibilityFlags": ["nodejs_compat"],
        }),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let c = client();
    // Concurrent requests keep their own AsyncLocalStorage stores.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let url = format!("{}/v1/workers/{id}/fetch/?id=r{i}", d.base);
            let c = c.clone();
            std::thread::spawn(move || {
                let r = c
                    .post(url)
                    .bearer_auth(tenant_token(0))
                    .body("hello")
                    .send()
                    .expect("fetch");
                (r.status().as_u16(), r.text().expect("text"), i)
            })
        })
        .collect();
    for h in handles {
        let (status, text, i) = h.join().expect("thread");
        assert_eq!(status, 200, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["id"], format!("r{i}"));
        assert_eq!(v["fromTimer"], format!("r{i}"));
        assert_eq!(
            v["sha256"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        // HMAC-SHA1("k1", "x"), as Node computes it.
        assert_eq!(v["hmac"], "fUPwmPeV54psVaZMN+oTRQHjEAs=");
        assert_eq!(v["b64"], "aGVsbG8=");
        assert_eq!(v["globalBuffer"], "function");
        assert_eq!(v["processEnv"], "k1");
        assert_eq!(v["sameEnv"], true);
    }
    let (_, desc) = get_json(&d, Some(&tenant_token(0)), &format!("/v1/workers/{id}"));
    assert_eq!(
        desc["compatibilityFlags"],
        serde_json::json!(["nodejs_compat"])
    );
}

#[test]
fn without_the_flag_node_modules_are_a_clear_error_and_bad_compat_settings_a_400() {
    let d = Daemon::start("nonode", 1, 1, "");
    let (status, v) = create(
        &d,
        serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": "import { Buffer } from 'node:buffer';\nexport default { fetch() { return new Response(Buffer.from('x')); } };" },
            "compatibilityDate": "2025-06-01",
        }),
    );
    assert_eq!(status, 201, "{v}");
    let (status, text) = get(&d, v["id"].as_str().expect("id"), "/");
    assert_eq!(status, 400, "{text}");
    let err: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(err["error"]["code"], "module_not_found");
    let message = err["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("node:buffer") && message.contains("nodejs_compat"),
        "{message}"
    );

    for (date, flags, needle) in [
        ("2025-02-30", vec!["nodejs_compat"], "YYYY-MM-DD"),
        ("9999-01-01", vec![], "newest date"),
        (
            "2025-06-01",
            vec!["nodejs_compat", "no_such_flag"],
            "no_such_flag",
        ),
    ] {
        let (status, v) = create(
            &d,
            serde_json::json!({
                "mainModule": "main.js",
                "modules": { "main.js": "export default { fetch() { return new Response('x'); } };" },
                "compatibilityDate": date,
                "compatibilityFlags": flags,
            }),
        );
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], "bad_request");
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{message}");
    }
}
