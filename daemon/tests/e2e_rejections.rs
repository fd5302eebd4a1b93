//! Promise rejections, channel messaging and console levels end to end: a Loader worker and a
//! Code Mode snippet in real jailed worker processes on loopback, their console output read back
//! from the API (`GET /v1/workers/{id}/logs`, `/v1/run`'s `logs`).
mod common;

use common::*;

fn lines(logs: &serde_json::Value) -> Vec<(String, String)> {
    logs.as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap_or("").to_string(),
                l["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A floating rejected promise of a fetch handler is an `Uncaught (in promise)` error line in
/// the worker's logs (one a listener canceled is not); a message posted on a MessageChannel
/// arrives; console.info and console.log keep their own levels.
#[test]
fn a_worker_s_unhandled_rejection_and_info_lines_reach_its_logs() {
    let d = Daemon::start("rejections", 1, 1, "");
    let main = "addEventListener('unhandledrejection', (e) => {
          if (String(e.reason).includes('quiet')) e.preventDefault();
        });
        export default { async fetch() {
          Promise.reject(new Error('nobody handled this'));
          Promise.reject(new Error('quiet, canceled by the listener'));
          const { port1, port2 } = new MessageChannel();
          const got = new Promise((resolve) => { port2.onmessage = (e) => resolve(e.data); });
          port1.postMessage({ hello: 'port' });
          const data = await got;
          console.info('info line');
          console.log('log line');
          return Response.json(data);
        } };";
    let id = load_code(
        &d,
        &tenant_token(0),
        &serde_json::json!({ "mainModule": "main.js", "modules": { "main.js": main } }),
    );
    let answer = fetch_json(&d, &tenant_token(0), &id, "");
    assert_eq!(answer, serde_json::json!({ "hello": "port" }));
    let (status, v) = get_json(
        &d,
        Some(&tenant_token(0)),
        &format!("/v1/workers/{id}/logs"),
    );
    assert_eq!(status, 200, "{v}");
    let lines = lines(&v["logs"]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0].0, "error");
    assert!(
        lines[0]
            .1
            .starts_with("Uncaught (in promise) Error: nobody handled this"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1..],
        [
            ("info".to_string(), "info line".to_string()),
            ("log".to_string(), "log line".to_string())
        ]
    );
}

/// A snippet's own rejection stays its error (a 4xx with the message), never an unhandled
/// rejection line; a floating one is in its logs.
#[test]
fn a_snippet_s_rejections_through_code_mode() {
    let d = Daemon::start("rejections-run", 1, 1, "");
    let (status, v) = run(
        &d,
        &tenant_token(0),
        "export default async () => { Promise.reject(new TypeError('floating')); console.info('i'); await null; return 1; };",
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"], 1);
    let got = lines(&v["logs"]);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], ("info".to_string(), "i".to_string()));
    assert_eq!(got[1].0, "error");
    assert!(
        got[1]
            .1
            .starts_with("Uncaught (in promise) TypeError: floating"),
        "{got:?}"
    );
    let (status, v) = run(
        &d,
        &tenant_token(0),
        "export default async () => { throw new RangeError('the snippet failed'); };",
    );
    assert!((400..500).contains(&status), "{status} {v}");
    assert!(v.to_string().contains("the snippet failed"), "{v}");
    assert!(!v.to_string().contains("in promise"), "{v}");
}

/// Console output of `ctx.waitUntil` work after the response, and the rejection of a
/// `waitUntil` promise, reach the worker's logs (they come with the worker's `Finished`), after
/// the handler's own lines.
#[test]
fn wait_until_work_after_the_response_logs_and_its_rejection_is_reported() {
    let d = Daemon::start("wait-until-logs", 1, 1, "");
    let main = "export default { fetch(req, env, ctx) {
          console.log('before the answer');
          ctx.waitUntil((async () => {
            await scheduler.wait(20);
            console.warn('after the answer');
            throw new Error('background work failed');
          })());
          ctx.waitUntil(scheduler.wait(40).then(() => console.log('the other task went on')));
          return new Response('answered');
        } };";
    let t = tenant_token(0);
    let id = load_code(
        &d,
        &t,
        &serde_json::json!({ "mainModule": "main.js", "modules": { "main.js": main } }),
    );
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    assert_eq!(r.text().expect("body"), "answered");
    // The background work ends within its wall limit; its lines come when it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let lines = loop {
        let (status, v) = get_json(&d, Some(&t), &format!("/v1/workers/{id}/logs"));
        assert_eq!(status, 200, "{v}");
        let lines = lines(&v["logs"]);
        if lines.len() >= 4 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], ("log".into(), "before the answer".into()));
    assert_eq!(lines[1], ("warn".into(), "after the answer".into()));
    assert_eq!(lines[2].0, "error");
    assert!(
        lines[2]
            .1
            .starts_with("Uncaught (in promise) Error: background work failed"),
        "{lines:?}"
    );
    assert_eq!(lines[3], ("log".into(), "the other task went on".into()));
}
