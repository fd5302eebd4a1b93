//! A request's calls to one Durable Object reach it in the order the request made them, as
//! Cloudflare delivers a stub's calls, also when the request does not wait for one before making
//! the next (a real daemon, jailed workers). Without `api/objects.rs`'s `CallOrder`, concurrent
//! calls overtook each other in the supervisor (measured: 3 of 5 requests of 20 unawaited calls
//! saw them out of order).
mod common;

use common::*;
use serde_json::json;

const CODE: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  add(n) { const v = (this.ctx.storage.kv.get("v") ?? 0) + n; this.ctx.storage.kv.put("v", v); return v; }
  get total() { return this.ctx.storage.kv.get("v") ?? 0; }
  async fetch(req) { return new Response(String(this.add(Number(new URL(req.url).searchParams.get("n"))))); }
}
export default { async fetch(req, env) {
  const a = env.ROOMS.getByName("a"), b = env.ROOMS.getByName("b");
  const pending = [];
  // Calls, fetches and property reads, to two objects, none awaited before the next is made.
  for (let i = 0; i < 30; i++) {
    pending.push(i % 3 === 0 ? a.fetch(`http://do/?n=1`).then((r) => r.text()).then(Number) : a.add(1));
    // (A property read is sent when it is awaited or `then` is called, as here.)
    pending.push(i % 5 === 0 ? b.total.then((v) => v) : b.add(10));
  }
  // Fire and forget, then a read: the read comes after both.
  a.add(100); a.add(100);
  const total = await a.total;
  return Response.json({ seen: await Promise.all(pending), total });
} };
"#;

#[test]
fn a_requests_calls_to_an_object_reach_it_in_the_order_it_made_them() {
    let d = Daemon::start("do-order", 1, 1, CPU_NOT_TESTED);
    let t = tenant_token(0);
    let id = load_with_env(
        &d,
        &t,
        CODE,
        json!({ "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } }),
    );
    let (mut a, mut b) = (0i64, 0i64);
    for round in 0..8 {
        let (status, text) = fetch(&d, &t, &id);
        assert_eq!(status, 200, "{text}");
        let got: serde_json::Value = serde_json::from_str(&text).expect("json");
        // What each call saw, had the object received them in the order they were made.
        let mut expected = Vec::new();
        for i in 0..30 {
            a += 1;
            expected.push(a);
            if i % 5 != 0 {
                b += 10;
            }
            expected.push(b);
        }
        a += 200;
        assert_eq!(
            got,
            json!({ "seen": expected, "total": a }),
            "round {round}"
        );
    }
}
