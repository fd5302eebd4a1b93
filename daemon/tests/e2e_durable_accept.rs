//! A WebSocket a Durable Object `accept()`s itself (the API before hibernation), end to end (a
//! real daemon, jailed workers, a real client), as Cloudflare runs it: the supervisor holds the
//! socket as it holds one accepted with `ctx.acceptWebSocket`, and each of its events is a call of
//! the object's own dispatched to the socket's listeners. So the socket outlives the request
//! that answered it (well past the worker's `wallMs`), each message has its own CPU budget (a
//! handler that spends some 7 ms of a 100 ms `cpuMs` on every message keeps working for thirty), the object stays in
//! memory while the socket is open (its listeners and fields survive an `idle_ms` far below the
//! test's length), a client's close reaches the `close` listener, and when a new version resets
//! the object, the sockets its old instance accepted are closed with 1011; so are they, at once,
//! when the instance's process dies or, recycled, exits (`HostCalls::on_exit`).
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, next};

const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.seen = 0; }
  fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.send(`hello from ${this.ctx.id.name} VERSION`);
    server.addEventListener("message", (e) => {
      // Some 7 ms of CPU per message once compiled (the clock does not move while code runs, so
      // a loop of a fixed length): thirty of them would spend one shared 100 ms budget twice over.
      let x = 0;
      for (let i = 0; i < 6e6; i++) x = (x * 31 + i) | 0;
      this.seen += 1 + (x & 0);
      server.send(`echo ${e.data} #${this.seen}`);
    });
    server.addEventListener("close", (e) => {
      console.log(`closed ${e.code} ${e.reason}`);
      server.close(1000, "bye");
    });
    return new Response(null, { status: 101, webSocket: client });
  }
}
export default { fetch(req, env) { return env.ROOMS.getByName("a").fetch(req); } };
"#;

/// The daemon's CPU cap, so that the worker's own `cpuMs: 100` holds (the default cap, 50 ms,
/// would lower it): a message's loop runs interpreted until V8 compiles it, and the first one
/// took 30-50 ms of CPU in a debug build (seen with a 30 ms cap), too close to 50 under load.
const LIMITS: &str = "[limits]\ncpu_ms = 100\n";

fn worker(version: &str) -> serde_json::Value {
    json!({
        "name": "rooms",
        "mainModule": "main.js",
        "modules": { "main.js": WORKER.replace("VERSION", version) },
        "env": { "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } },
        "limits": { "wallMs": 1000, "cpuMs": 100 },
    })
}

/// Tenant 0's token once its `rooms` v1 is created, and a runtime for the clients.
fn rooms_v1(d: &Daemon) -> (String, tokio::runtime::Runtime) {
    let token = tenant_token(0);
    let (status, created) = create_worker(d, &token, &worker("v1"));
    assert_eq!(status, 201, "{created}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (token, rt)
}

#[test]
fn an_objects_own_socket_outlives_its_request_with_a_budget_per_message_and_pins_its_object() {
    let d = Daemon::start(
        "do-accept",
        1,
        1,
        &format!("{LIMITS}[durable_objects]\nidle_ms = 200\n"),
    );
    let (token, rt) = rooms_v1(&d);
    rt.block_on(async {
        let mut ws = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut ws).await, Message::text("hello from a v1"));
        for i in 1..=30 {
            ws.send(Message::text(format!("m{i}"))).await.expect("sent");
            assert_eq!(
                next(&mut ws).await,
                Message::text(format!("echo m{i} #{i}"))
            );
            // 30 x 100 ms and more: three times the 1 s wallMs, far past the 200 ms idle_ms.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The client closes (the relay completes the closing handshake): the object's close
        // listener hears it.
        ws.send(Message::Close(None)).await.expect("close");
        assert!(matches!(next(&mut ws).await, Message::Close(_)));
    });
    let start = std::time::Instant::now();
    loop {
        let (_, logs) = get_json(&d, Some(&token), "/v1/workers/rooms/logs");
        if logs.to_string().contains("closed 1005") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no close event: {logs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A new version resets the object at its next call (another client's here). The socket the
    // old instance accepted had its listeners there: the new instance closes it with 1011 as it
    // is constructed, also for a client that sends nothing (Cloudflare disconnects it on a deploy
    // too).
    let mut ws = rt.block_on(async {
        let mut ws = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut ws).await, Message::text("hello from a v1"));
        ws
    });
    let (status, created) = create_worker(&d, &token, &worker("v2"));
    assert_eq!(status, 201, "{created}");
    rt.block_on(async {
        let mut other = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut other).await, Message::text("hello from a v2"));
        match next(&mut ws).await {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Error, "{frame:?}");
                assert!(frame.reason.contains("instance"), "{frame:?}");
            }
            other => panic!("expected a close 1011, got {other:?}"),
        }
        other.send(Message::text("x")).await.expect("sent");
        assert_eq!(next(&mut other).await, Message::text("echo x #1"));
    });
}

#[test]
fn a_socket_whose_process_died_is_closed_with_1011_and_the_object_serves_on() {
    let d = Daemon::start("do-accept-crash", 1, 1, LIMITS);
    let (token, rt) = rooms_v1(&d);
    let mut ws = rt.block_on(async {
        let mut ws = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut ws).await, Message::text("hello from a v1"));
        ws.send(Message::text("m1")).await.expect("sent");
        assert_eq!(next(&mut ws).await, Message::text("echo m1 #1"));
        ws
    });
    let pid = d.admin()["workers"][0]["pid"].as_i64().expect("pid") as i32;
    // SAFETY: kill(2) on the worker's pid, which the admin API reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    rt.block_on(async {
        // The instance whose listeners served the socket is gone with its process: the
        // supervisor closes the socket when it learns of the death, before its client speaks
        // (without that, it stays open until its client speaks).
        let closed = tokio::time::timeout(Duration::from_secs(5), next(&mut ws)).await;
        match closed.expect("a close within 5 s of the death") {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Error, "{frame:?}");
                assert!(frame.reason.contains("is gone"), "{frame:?}");
            }
            other => panic!("expected a close 1011, got {other:?}"),
        }
        // The object itself serves on, in a new process, with a new instance.
        let mut again = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut again).await, Message::text("hello from a v1"));
        again.send(Message::text("x")).await.expect("sent");
        assert_eq!(next(&mut again).await, Message::text("echo x #1"));
    });
}

#[test]
fn a_socket_whose_process_was_recycled_is_closed_with_1011_and_the_object_serves_on() {
    // Renewal every 50 isolates: the object's instance always lives in the process, so V8's
    // shared heap is never renewed there and, after enough fresh isolates beside it, the worker
    // says it is overdue; the supervisor moves the tenant to a new process and shuts the old one
    // down cleanly (`State::recycle`). That exit is a process life gone too.
    let d = Daemon::start(
        "do-accept-recycle",
        1,
        1,
        &format!("worker_renew_after = 50\n{LIMITS}"),
    );
    let (token, rt) = rooms_v1(&d);
    let mut ws = rt.block_on(async {
        let mut ws = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut ws).await, Message::text("hello from a v1"));
        ws
    });
    let old = d.admin()["workers"][0]["pid"].as_u64().expect("pid");
    let recycled = |d: &Daemon| {
        d.metrics()
            .lines()
            .find_map(|l| l.strip_prefix("stockade_worker_recycles_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .is_some_and(|n| n >= 1.0)
    };
    let mut ran = 0;
    while !recycled(&d) {
        let (status, body) = run(&d, &token, "export default () => 1");
        assert_eq!(status, 200, "{body}");
        ran += 1;
        assert!(
            ran < 600,
            "{ran} fresh isolates and no recycle: {}",
            d.admin()
        );
    }
    rt.block_on(async {
        // The client says nothing: the close comes from the process's exit alone.
        let closed = tokio::time::timeout(Duration::from_secs(30), next(&mut ws)).await;
        match closed.expect("a close within 30 s of the recycle") {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Error, "{frame:?}");
                assert!(frame.reason.contains("is gone"), "{frame:?}");
            }
            other => panic!("expected a close 1011, got {other:?}"),
        }
        // It was the recycled process's exit: the old process goes.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
        while unsafe { libc::kill(old as i32, 0) } == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the old process {old} still runs"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut again = connect(&d, &token, "rooms", "").await;
        assert_eq!(next(&mut again).await, Message::text("hello from a v1"));
        again.send(Message::text("x")).await.expect("sent");
        assert_eq!(next(&mut again).await, Message::text("echo x #1"));
    });
}
