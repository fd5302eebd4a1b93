//! The queue handler in real isolates, through the task API as a worker process drives it
//! (`Worker::start_queue`, `js/queue.js`): message fields and the four body types, explicit
//! ack/retry against ackAll/retryAll (the first call wins), a throw, the three handler shapes,
//! a worker with no handler, and tenant code that replaced what the runtime uses.
mod common;

use common::*;
use serde_json::{json, Value};
use stockade_isolate::LogLine;

const TIME: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Bodies as (contentType, bytes): the messages JSON and the bodies back to back.
fn batch(bodies: &[(&str, &[u8])]) -> (Vec<u8>, Vec<u8>) {
    let mut all = Vec::new();
    let mut messages = Vec::new();
    for (i, (kind, bytes)) in bodies.iter().enumerate() {
        messages.push(json!({
            "id": format!("m{i}"),
            "timestamp": TIME + i as u64,
            "attempts": i + 1,
            "contentType": kind,
            "body": [all.len(), bytes.len()],
        }));
        all.extend_from_slice(bytes);
    }
    (serde_json::to_vec(&messages).expect("json"), all)
}

/// Loads `src` and delivers one batch of `bodies` to it: the answer's JSON and the logs.
fn deliver(src: &str, bodies: &[(&str, &[u8])]) -> (Value, Vec<LogLine>) {
    let mut worker = loaded_worker(src);
    let (messages, all) = batch(bodies);
    let task = worker.start_queue("jobs", &messages, &all, &json!({ "NAME": "n" }));
    json_answer(&mut worker, task)
}

fn lines(logs: &[LogLine]) -> Vec<String> {
    logs.iter().map(|l| l.text.clone()).collect()
}

fn fates(answer: &Value) -> Vec<(String, String)> {
    answer["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let action = m["action"].as_str().expect("action").to_string();
            match m.get("delaySeconds") {
                Some(d) => (action, d.to_string()),
                None => (action, String::new()),
            }
        })
        .collect()
}

#[test]
fn messages_carry_their_fields_and_each_content_type_decodes() {
    let src = r#"export default {
        async queue(batch, env, ctx) {
            console.log(batch.queue, batch.messages.length, env.NAME, typeof ctx.waitUntil);
            for (const m of batch.messages) {
                const b = m.body;
                const shown = b instanceof ArrayBuffer ? "AB:" + [...new Uint8Array(b)].join(",")
                    : b instanceof Map ? "Map:" + JSON.stringify([...b]) : JSON.stringify(b);
                console.log(m.id, m.timestamp.toISOString(), m.attempts, shown);
            }
        },
    };"#;
    let v8 = br#"{"$":"m","v":[["k",1]]}"#;
    let (answer, logs) = deliver(
        src,
        &[
            ("json", br#"{"a":[1,2]}"#),
            ("text", "h\u{e9}llo".as_bytes()),
            ("bytes", &[1, 2, 255]),
            ("v8", v8),
        ],
    );
    assert_eq!(answer["outcome"], "ok", "{answer}");
    assert_eq!(
        fates(&answer),
        vec![("none".to_string(), String::new()); 4],
        "no call: the supervisor acks them as the handler returned"
    );
    let logs = lines(&logs);
    assert_eq!(logs[0], "jobs 4 n function");
    assert_eq!(logs[1], r#"m0 2026-01-01T00:00:00.000Z 1 {"a":[1,2]}"#);
    assert_eq!(logs[2], "m1 2026-01-01T00:00:00.001Z 2 \"h\u{e9}llo\"");
    assert_eq!(logs[3], "m2 2026-01-01T00:00:00.002Z 3 AB:1,2,255");
    assert!(
        logs[4].starts_with("m3 ") && logs[4].ends_with("4 Map:[[\"k\",1]]"),
        "{logs:?}"
    );
}

#[test]
fn the_first_call_on_a_message_wins_and_a_throw_is_the_outcome() {
    // In the order made, as workerd's: retryAll() decides every message without a call yet, so
    // a later ack() (c) does nothing, a later retry() (e) only sets its delay, and a later
    // ackAll() nothing at all.
    let src = r#"export default {
        queue(batch) {
            const [a, b, c, d, e] = batch.messages;
            a.ack(); a.retry();
            b.retry({ delaySeconds: 7 }); b.ack();
            batch.retryAll({ delaySeconds: 3 });
            batch.ackAll();
            c.ack();
            e.retry({ delaySeconds: 9 });
            try { d.retry({ delaySeconds: 43201 }); } catch (e) { console.log(e.name); }
            throw new RangeError("boom");
        },
    };"#;
    let one: &[u8] = b"1";
    let (answer, logs) = deliver(src, &[("json", one); 5]);
    assert_eq!(answer["outcome"], "exception");
    assert_eq!(
        answer["error"],
        json!({ "name": "RangeError", "message": "boom" })
    );
    let f = |a: &str, d: &str| (a.to_string(), d.to_string());
    assert_eq!(
        fates(&answer),
        [
            f("ack", "0"),
            f("retry", "7"),
            f("retry", "3"),
            f("retry", "3"),
            f("retry", "9"),
        ]
    );
    let logs = lines(&logs);
    assert_eq!(logs[0], "RangeError", "a delay past 12 hours is refused");
    assert!(logs[1].contains("Uncaught RangeError: boom"), "{logs:?}");
}

#[test]
fn after_ack_all_a_retry_changes_nothing() {
    let src = r#"export default {
        queue(batch) {
            const [a, b] = batch.messages;
            a.retry({ delaySeconds: 5 });
            batch.ackAll();
            b.retry({ delaySeconds: 6 });
            batch.retryAll();
            b.ack();
        },
    };"#;
    let one: &[u8] = b"1";
    let (answer, _) = deliver(src, &[("json", one); 2]);
    assert_eq!(answer["outcome"], "ok", "{answer}");
    let f = |a: &str, d: &str| (a.to_string(), d.to_string());
    assert_eq!(fates(&answer), [f("retry", "5"), f("ack", "0")]);
}

#[test]
fn a_class_a_listener_and_no_handler() {
    let class = r#"import { WorkerEntrypoint } from "cloudflare:workers";
        export default class extends WorkerEntrypoint {
            async queue(batch) {
                this.ctx.waitUntil(Promise.reject(new Error("late")));
                batch.messages[0].ack();
            }
        }"#;
    let (answer, logs) = deliver(class, &[("text", b"x"), ("text", b"y")]);
    assert_eq!(
        answer["outcome"], "exception",
        "a failed waitUntil fails the batch"
    );
    assert_eq!(fates(&answer)[0].0, "ack");
    assert_eq!(fates(&answer)[1].0, "none");
    assert!(lines(&logs).iter().any(|l| l.contains("late")));

    let listener = r#"addEventListener("queue", (event) => {
            console.log(event.queue, event.messages[0].body, typeof NAME);
            event.retryAll();
        });"#;
    let (answer, logs) = deliver(listener, &[("text", b"x")]);
    assert_eq!(answer["outcome"], "ok", "{answer}");
    assert_eq!(fates(&answer)[0].0, "retry");
    assert_eq!(lines(&logs), ["jobs x string"]);

    let (answer, _) = deliver("export default { fetch() {} };", &[("text", b"x")]);
    assert_eq!(answer["outcome"], "noHandler");
}

#[test]
fn replaced_globals_do_not_change_the_fates() {
    let src = r#"export default {
        queue(batch) {
            const m = batch.messages[0];
            m.ack();
            const proto = Object.getPrototypeOf(m);
            Object.defineProperty(proto, "id", { get() { return "forged"; } });
            JSON.stringify = () => "{}";
            Array.prototype.push = () => { throw new Error("no"); };
            Object.defineProperty(Object.prototype, "action", { set() { throw new Error("no"); }, configurable: true });
            Object.prototype.toJSON = function () { return { id: "forged", action: "retry" }; };
        },
    };"#;
    let (answer, _) = deliver(src, &[("json", b"1"), ("json", b"2")]);
    assert_eq!(answer["outcome"], "ok", "{answer}");
    assert_eq!(answer["messages"][0]["id"], "m0");
    assert_eq!(answer["messages"][0]["action"], "ack");
    assert_eq!(answer["messages"][1]["action"], "none");
}
