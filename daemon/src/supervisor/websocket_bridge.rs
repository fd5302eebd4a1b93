//! The bridge between two in-process WebSocket ends: a Durable Object's request that drives its
//! own socket (the object `accept()`ed it: [`super::websocket::Handed::Driven`]) and its
//! caller's client's socket, which the caller's runtime spliced to it.
//!
//! Guarantees: the object's messages and close reach the client in order, and the client's the
//! object, each way through the ends' bounded queues (a slow side slows the other); the
//! client going away is a close with 1006 for the object; the object's request ending without
//! a close (its wall limit, say) closes the client with 1011; the bridge ends when both sides
//! are done (or either is gone). Trusts: nothing in the messages (both sides are tenant code's).

use super::websocket::{ClientEnd, Incoming, Outgoing, SocketEnd};

/// Why the client is closed when the object's request ends without a close.
const ENDED: &str = "the Durable Object's request ended";

/// Carries messages between `object` (the other end of the object's request's socket) and
/// `client` (the caller's client's socket) until both are done.
pub async fn bridge(object: ClientEnd, client: SocketEnd) {
    let ClientEnd {
        mut to_client,
        from_client,
    } = object;
    let mut object_closed = false;
    let mut client_done = false;
    loop {
        tokio::select! {
            out = to_client.recv() => match out {
                Some(message) => {
                    object_closed |= matches!(message, Outgoing::Close(_));
                    if !client.push(message).await {
                        client_done = true;
                    }
                }
                None => {
                    if !object_closed && !client_done {
                        let _ = client.push(Outgoing::Close(Some((1011, ENDED.into())))).await;
                    }
                    return;
                }
            },
            incoming = client.next_incoming(), if !client_done => {
                let message = incoming.unwrap_or_else(|| Incoming::Close {
                    code: 1006,
                    reason: "WebSocket disconnected without sending Close frame.".into(),
                    clean: false,
                });
                client_done = matches!(message, Incoming::Close { .. });
                if from_client.send(message).await.is_err() {
                    return; // the object's request is over
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::websocket::{pair, BINARY, TEXT};

    #[tokio::test]
    async fn messages_cross_both_ways_and_an_ended_request_closes_the_client_with_1011() {
        // The object's request's socket (`object_end`, what its task uses) and the caller's
        // client's (`client_end`, whose other side `client_side` is the real client's relay).
        let (object_end, object_other) = pair();
        let (client_end, mut client_side) = pair();
        let bridged = tokio::spawn(bridge(object_other, client_end));
        object_end.send(vec![TEXT, b'h', b'i']).await.expect("sent");
        assert_eq!(
            client_side.to_client.recv().await,
            Some(Outgoing::Text("hi".into()))
        );
        client_side
            .from_client
            .send(Incoming::Binary(vec![1, 2]))
            .await
            .expect("sent");
        assert_eq!(object_end.recv().await.expect("recv"), vec![BINARY, 1, 2]);
        // The object's request ends without a close: the client is closed with 1011.
        drop(object_end);
        assert_eq!(
            client_side.to_client.recv().await,
            Some(Outgoing::Close(Some((1011, ENDED.into()))))
        );
        bridged.await.expect("the bridge ends");
    }

    #[tokio::test]
    async fn the_client_going_away_is_a_1006_close_for_the_object() {
        let (object_end, object_other) = pair();
        let (client_end, client_side) = pair();
        let bridged = tokio::spawn(bridge(object_other, client_end));
        drop(client_side);
        let frame = object_end.recv().await.expect("recv");
        assert_eq!(frame[0], crate::supervisor::websocket::CLOSE);
        assert_eq!(u16::from_le_bytes([frame[2], frame[3]]), 1006);
        drop(object_end);
        bridged.await.expect("the bridge ends");
    }
}
