//! Concurrency and failure: many tenants at once, a worker killed mid-request, and a client that
//! goes away mid-request.
mod common;
use std::time::Duration;

use common::*;

#[test]
fn a_hundred_concurrent_requests_from_ten_tenants_are_all_answered_correctly() {
    let d = Daemon::start("concurrent", 10, 2, "");
    let ids: Vec<String> = (0..10)
        .map(|t| load(&d, &tenant_token(t), &format!("export default {{ async fetch(req: Request) {{ const n = new URL(req.url).searchParams.get('n'); await new Promise((r) => setTimeout(r, 2)); return new Response('tenant {t} request ' + n); }} }};")))
        .collect();
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let t = i % 10;
            let url = format!("{}/v1/workers/{}/fetch/?n={i}", d.base, ids[t]);
            std::thread::spawn(move || {
                let text = client()
                    .get(url)
                    .bearer_auth(tenant_token(t))
                    .send()
                    .and_then(|r| r.text());
                (t, i, text)
            })
        })
        .collect();
    for h in handles {
        let (t, i, text) = h.join().expect("thread");
        assert_eq!(text.expect("answered"), format!("tenant {t} request {i}"));
    }
}

#[test]
fn killing_a_worker_mid_request_fails_only_that_request() {
    let d = Daemon::start_with("kill9", &["normal"], 1, "", TEST_HOOKS);
    let t = tenant_token(0);
    let base = d.base.clone();
    let slow = std::thread::spawn(move || {
        client()
            .post(format!("{base}/v1/run"))
            .bearer_auth(tenant_token(0))
            // After a host call: it may have acted outside its isolate, so it is not run again.
            .json(
                &serde_json::json!({"code": acting_then_asleep(5000), "limits": {"wallMs": 10000}}),
            )
            .send()
            .expect("slow request")
    });
    // Wait until the request is in flight, then kill -9 the process running it.
    let mut pid = 0;
    for _ in 0..500 {
        let admin = d.admin();
        if admin["workers"][0]["inFlight"].as_u64() == Some(1) {
            pid = admin["workers"][0]["pid"].as_u64().unwrap_or(0) as i32;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pid > 1, "the request never went in flight");
    // In flight counts from placement: the kill comes once its host call was made (it then
    // sleeps 5 s), so it finds the request running, having acted.
    until_echoes(&d, 1, "the request made no host call");
    // SAFETY: kill(2) on the worker's pid, which the admin API reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let r = slow.join().expect("thread");
    assert_eq!(r.status().as_u16(), 502);
    let v: serde_json::Value = r.json().expect("json");
    assert_eq!(v["error"]["code"], "worker_crashed", "{v}");
    // The next request succeeds on the replacement process.
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"code": "export default () => 'fine';"}))
        .send()
        .expect("next");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["result"],
        "fine"
    );
    assert_eq!(d.admin()["workers"][0]["restarts"], 1);
    // A kill from outside is no evidence against the tenant that was running.
    let (status, report) = get_json(&d, Some(OPERATOR), "/v1/tenants/t0/risk");
    assert_eq!(status, 200, "{report}");
    assert_ne!(report["tier"], "quarantine", "{report:#}");
    assert!(
        !report["signals"].as_array().is_some_and(|a| a
            .iter()
            .any(|s| s["signal"] == "worker_crash_while_running")),
        "{report:#}"
    );
}

#[test]
fn a_client_that_goes_away_has_its_request_cancelled_and_the_worker_lives() {
    let d = Daemon::start("cancel", 1, 1, "");
    let t = tenant_token(0);
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let start = std::time::Instant::now();
    let gone = impatient
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"code": "export default () => new Promise((r) => setTimeout(() => r('late'), 20000));", "limits": {"wallMs": 30000}}))
        .send();
    assert!(gone.is_err_and(|e| e.is_timeout()));
    // The handler was dropped with the connection: its job is over for the supervisor (which
    // sent Cancel) long before the script would have finished.
    let mut over = false;
    while start.elapsed() < Duration::from_secs(10) {
        if d.admin()["workers"][0]["inFlight"].as_u64() == Some(0) {
            over = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        over,
        "the request stayed in flight after its client left: {}",
        d.admin()
    );
    // The worker stopped the handler (e2e_concurrency.rs checks it stops); the process serves
    // on.
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"code": "export default () => 'next';"}))
        .send()
        .expect("next");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().expect("json")["result"],
        "next"
    );
    assert_eq!(d.admin()["workers"][0]["restarts"], 0);
}
