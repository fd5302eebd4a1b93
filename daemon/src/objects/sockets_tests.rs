//! Unit tests of `sockets.rs`: batches applied, linked and auto-answered; a deleted worker's
//! sockets closed; an object's own sockets closed when its instance is gone.

use super::*;

fn entry(id: u32, kind: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = id.to_le_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

fn key() -> ObjectKey {
    ObjectKey {
        tenant: "t".into(),
        worker: "w".into(),
        class: "C".into(),
        id: "a".repeat(64),
    }
}

#[tokio::test]
async fn a_batch_accepts_sends_attaches_and_refuses_what_is_malformed() {
    let sockets = ObjectSockets::default();
    let k = key();
    let mut batch = entry(1, ACCEPT, br#"["a","b"]"#);
    batch.extend(entry(1, TEXT, b"hi"));
    batch.extend(entry(1, ATTACH, b"{\"x\":1}"));
    sockets.apply(&k, 1, &batch).expect("applied");
    assert!(sockets.is_waiting(&k, 1));
    let state = sockets.state(&k);
    assert_eq!(state["sockets"][0]["tags"], json!(["a", "b"]));
    assert_eq!(state["sockets"][0]["attachment"], json!("{\"x\":1}"));
    let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    let too_many = serde_json::to_vec(&eleven).expect("json");
    assert!(sockets.apply(&k, 1, &entry(2, ACCEPT, &too_many)).is_err());
    let long = serde_json::to_vec(&["x".repeat(MAX_TAG_CHARS + 1)]).expect("json");
    assert!(sockets.apply(&k, 1, &entry(2, ACCEPT, &long)).is_err());
    assert!(
        sockets.apply(&k, 1, &entry(1, ACCEPT, b"[]")).is_err(),
        "a number in use"
    );
    assert!(sockets
        .apply(&k, 1, &entry(1, ATTACH, &[b'1'; MAX_ATTACHMENT + 1]))
        .is_err());
    assert!(sockets.apply(&k, 1, &[1, 0, 0]).is_err());
    assert!(sockets.apply(&k, 1, &entry(1, 9, b"")).is_err());
    // Linked: what was queued before goes out first.
    let (end, mut client) = crate::supervisor::websocket::pair();
    assert!(sockets.link(&k, 1, end));
    sockets.apply(&k, 1, &entry(1, BINARY, &[7])).expect("sent");
    assert_eq!(
        client.to_client.recv().await,
        Some(Outgoing::Text("hi".into()))
    );
    assert_eq!(
        client.to_client.recv().await,
        Some(Outgoing::Binary(vec![7]))
    );
    sockets
        .set_auto(&k, &json!({"pair": ["ping", "pong"]}))
        .expect("set");
    assert_eq!(sockets.auto_answer(&k, 1, "ping").as_deref(), Some("pong"));
    assert!(sockets.auto_answer(&k, 1, "other").is_none());
    assert!(sockets.stamp(&k, 1).is_some());
    assert_eq!(
        client.to_client.recv().await,
        Some(Outgoing::Text("pong".into()))
    );
    sockets.remove(&k, 1);
    assert_eq!(sockets.count(&k), 0);
    assert!(client.to_client.recv().await.is_none(), "its queue ended");
}

#[tokio::test]
async fn a_deleted_workers_sockets_close_with_1001_and_no_others() {
    let sockets = ObjectSockets::default();
    let mine = key();
    let other_object = ObjectKey {
        id: "b".repeat(64),
        ..key()
    };
    let other_worker = ObjectKey {
        worker: "v".into(),
        ..key()
    };
    let other_tenant = ObjectKey {
        tenant: "u".into(),
        ..key()
    };
    let mut clients = Vec::new();
    for k in [&mine, &other_object, &other_worker, &other_tenant] {
        let mut batch = entry(1, ACCEPT, b"[]");
        batch.extend(entry(1, TEXT, b"before"));
        sockets.apply(k, 1, &batch).expect("accepted");
        let (end, client) = crate::supervisor::websocket::pair();
        assert!(sockets.link(k, 1, end));
        clients.push(client);
    }
    // Not linked yet: dropped with the rest.
    sockets
        .apply(&mine, 1, &entry(2, ACCEPT, b"[]"))
        .expect("accepted");
    assert_eq!(sockets.close_worker("t", "w", 1001, "gone"), 3);
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            client.to_client.recv().await,
            Some(Outgoing::Text("before".into()))
        );
        if i < 2 {
            assert_eq!(
                client.to_client.recv().await,
                Some(Outgoing::Close(Some((1001, "gone".into()))))
            );
            assert!(client.to_client.recv().await.is_none(), "its queue ended");
        } else {
            assert!(client.to_client.try_recv().is_err(), "still open, no close");
        }
    }
    assert_eq!(sockets.count(&mine) + sockets.count(&other_object), 0);
    assert_eq!(sockets.count(&other_worker), 1);
    assert_eq!(sockets.count(&other_tenant), 1);
    assert_eq!(sockets.close_worker("t", "w", 1001, "gone"), 0);
}

#[tokio::test]
async fn an_objects_own_sockets_close_when_their_process_is_gone_and_keep_their_numbers() {
    let sockets = ObjectSockets::default();
    let k = key();
    // Socket 1 accepted by the instance in life 7, 2 hibernatable, 3 accepted in life 8.
    let mut batch = entry(1, LISTEN, b"");
    batch.extend(entry(1, TEXT, b"before"));
    batch.extend(entry(2, ACCEPT, b"[]"));
    sockets.apply(&k, 7, &batch).expect("accepted");
    sockets
        .apply(&k, 8, &entry(3, LISTEN, b""))
        .expect("accepted");
    let mut clients = Vec::new();
    for id in 1..=3 {
        let (end, client) = crate::supervisor::websocket::pair();
        assert!(sockets.link(&k, id, end));
        clients.push(client);
    }
    assert_eq!(sockets.close_listening(7, 1011, "gone"), 1);
    assert_eq!(
        clients[0].to_client.recv().await,
        Some(Outgoing::Text("before".into()))
    );
    assert_eq!(
        clients[0].to_client.recv().await,
        Some(Outgoing::Close(Some((1011, "gone".into()))))
    );
    // Nothing more goes out, but its number stays taken until its client's side ends.
    sockets
        .apply(&k, 9, &entry(1, TEXT, b"late"))
        .expect("skipped");
    assert!(
        clients[0].to_client.try_recv().is_err(),
        "nothing after the close"
    );
    assert!(
        sockets.apply(&k, 9, &entry(1, ACCEPT, b"[]")).is_err(),
        "its number is still taken"
    );
    assert_eq!(sockets.state(&k)["sockets"][0]["id"], json!(1));
    sockets.remove(&k, 1);
    assert!(
        clients[0].to_client.recv().await.is_none(),
        "its queue ended"
    );
    // The hibernatable one and the other process's stay open.
    assert_eq!(sockets.count(&k), 2);
    for client in &mut clients[1..] {
        assert!(client.to_client.try_recv().is_err(), "still open, no close");
    }
    assert_eq!(sockets.close_listening(7, 1011, "gone"), 0);
    assert_eq!(sockets.close_listening(8, 1011, "gone"), 1);
}
