//! The scheduled handler (cron triggers) in real isolates, through the task API as a worker
//! process drives it (`Worker::start_scheduled`, `js/scheduled.js`): the three handler shapes,
//! the controller and event fields, `noRetry`, `waitUntil` work awaited and failing the run, a
//! worker with no handler, and tenant code that replaced globals the runtime uses.
mod common;

use common::*;
use stockade_isolate::LogLine;

const TIME: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Loads `src` (an ES module) and runs one scheduled event of it: the answer's JSON and the logs.
fn scheduled(src: &str, cron: &str, env: serde_json::Value) -> (serde_json::Value, Vec<LogLine>) {
    let mut worker = loaded_worker(src);
    let task = worker.start_scheduled(cron, TIME, &env);
    json_answer(&mut worker, task)
}

fn messages(logs: &[LogLine]) -> Vec<String> {
    logs.iter().map(|l| l.text.clone()).collect()
}

#[test]
fn the_default_export_gets_controller_env_and_ctx() {
    let src = r#"export default {
        async scheduled(controller, env, ctx) {
            console.log(JSON.stringify([controller.scheduledTime, controller.cron, controller.type,
                String(controller), env.NAME, typeof ctx.waitUntil]));
            ctx.waitUntil(new Promise((r) => setTimeout(r, 30)).then(() => console.log("later")));
        },
    };"#;
    let (answer, logs) = scheduled(src, "*/5 * * * *", serde_json::json!({ "NAME": "n" }));
    assert_eq!(
        answer,
        serde_json::json!({ "outcome": "ok", "noRetry": false })
    );
    assert_eq!(
        messages(&logs),
        [
            format!(
                r#"[{TIME},"*/5 * * * *","scheduled","[object ScheduledController]","n","function"]"#
            ),
            "later".to_string(),
        ],
        "the waitUntil work is over before the answer"
    );
}

#[test]
fn an_exception_is_the_outcome_and_no_retry_is_kept() {
    let src = r#"export default {
        scheduled(controller) { controller.noRetry(); throw new RangeError("boom"); },
    };"#;
    let (answer, logs) = scheduled(src, "0 * * * *", serde_json::json!({}));
    assert_eq!(
        answer,
        serde_json::json!({ "outcome": "exception", "noRetry": true,
            "error": { "name": "RangeError", "message": "boom" } })
    );
    assert!(
        messages(&logs)
            .iter()
            .any(|m| m.starts_with("Uncaught RangeError: boom")),
        "{logs:?}"
    );
}

#[test]
fn a_rejected_wait_until_promise_fails_the_run() {
    let src = r#"export default {
        scheduled(controller, env, ctx) {
            ctx.waitUntil(Promise.reject(new TypeError("late")));
            ctx.waitUntil(Promise.resolve(1));
        },
    };"#;
    let (answer, logs) = scheduled(src, "* * * * *", serde_json::json!({}));
    assert_eq!(answer["outcome"], "exception");
    assert_eq!(answer["error"]["message"], "late");
    assert!(
        messages(&logs)
            .iter()
            .any(|m| m.starts_with("Uncaught (in promise) TypeError: late")),
        "{logs:?}"
    );
}

#[test]
fn a_worker_entrypoint_class_is_constructed_with_ctx_and_env() {
    let src = r#"import { WorkerEntrypoint } from "cloudflare:workers";
    export default class extends WorkerEntrypoint {
        async scheduled(controller) {
            console.log(`${controller.cron}|${this.env.NAME}|${typeof this.ctx.waitUntil}`);
        }
    }"#;
    let (answer, logs) = scheduled(src, "0 0 * * MON", serde_json::json!({ "NAME": "c" }));
    assert_eq!(answer["outcome"], "ok", "{logs:?}");
    assert_eq!(messages(&logs), ["0 0 * * MON|c|function"]);
}

#[test]
fn service_worker_syntax_gets_a_scheduled_event() {
    let src = r#"
    addEventListener("scheduled", (event) => {
        console.log(`${event instanceof ScheduledEvent}|${event.cron}|${event.scheduledTime}|${NAME}`);
        event.noRetry();
        event.waitUntil(new Promise((r) => setTimeout(r, 20)).then(() => console.log("waited")));
    });
    addEventListener("scheduled", () => { throw new Error("second listener"); });
    "#;
    let (answer, logs) = scheduled(src, "15 * * * *", serde_json::json!({ "NAME": "g" }));
    assert_eq!(answer["outcome"], "exception", "a listener threw");
    assert_eq!(answer["noRetry"], true);
    assert_eq!(answer["error"]["message"], "second listener");
    let lines = messages(&logs);
    assert_eq!(lines[0], format!("true|15 * * * *|{TIME}|g"));
    assert!(lines.iter().any(|m| m == "waited"), "{lines:?}");
}

#[test]
fn a_worker_without_a_scheduled_handler_says_so() {
    let src = "export default { fetch() { return new Response('x'); } };";
    let (answer, _) = scheduled(src, "* * * * *", serde_json::json!({}));
    assert_eq!(answer["outcome"], "noHandler");
    assert!(answer["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("no scheduled handler")));
}

#[test]
fn replaced_globals_do_not_steer_the_outcome() {
    let src = r#"
    Object.defineProperty(Array.prototype, "0", { set() { throw new Error("array setter ran"); }, configurable: true });
    Object.defineProperty(Object.prototype, "error", { set() { throw new Error("object setter ran"); }, configurable: true });
    JSON.stringify = () => '{"outcome":"ok","noRetry":false}';
    Promise.prototype.then = function () { throw new Error("then ran"); };
    export default {
        scheduled(controller, env, ctx) {
            ctx.waitUntil(Promise.reject(new Error("real failure")));
        },
    };"#;
    let (answer, _) = scheduled(src, "* * * * *", serde_json::json!({}));
    assert_eq!(answer["outcome"], "exception");
    assert_eq!(answer["error"]["message"], "real failure");
}
