//! A WebSocket client of a worker's `fetch` route (tokio-tungstenite) for the Durable Object
//! socket tests (`e2e_durable_websocket.rs`, `e2e_durable_websocket_delete.rs`,
//! `e2e_partyserver.rs`, ...): the handshake as a tenant, and the next frame, each with a guard
//! against a hang (never a timing assert).
//! Included with `#[path]` after `mod common`.
#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::common::Daemon;

pub type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `GET /v1/workers/{id}/fetch/?{query}` as a WebSocket with `token`; asserts the 101.
pub async fn connect(d: &Daemon, token: &str, id: &str, query: &str) -> Client {
    connect_path(d, token, id, &format!("/?{query}")).await
}

/// Opens `GET /v1/workers/{id}/fetch{path_and_query}` as a WebSocket with `token`; asserts the
/// 101.
pub async fn connect_path(d: &Daemon, token: &str, id: &str, path_and_query: &str) -> Client {
    let url = format!(
        "{}/v1/workers/{id}/fetch{path_and_query}",
        d.base.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (ws, response) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The next frame (a guard of 20 s against a hang: none is a failure).
pub async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a frame in time")
        .expect("open")
        .expect("a frame")
}
