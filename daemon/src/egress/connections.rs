//! Cloudflare's "simultaneous open connections": a request has at most [`MAX_OPEN`] outbound
//! connections open at once, its `fetch()`es (from the hop's start until the answer's body is
//! read to its end, cancelled, failed or dropped; an outbound WebSocket for its life) and its
//! `connect()` sockets (until closed) together. One more is not refused: it waits, in the order
//! asked, until one of the open ones ends, then goes ahead.
//!
//! Guarantees:
//! - one gate per request, kept in its `Resources` (another request's connections never count);
//! - first come, first served (tokio's `Semaphore` is fair);
//! - a [`Slot`] is given back exactly once, when it is dropped, whichever way its connection
//!   ends (an error, `fetch.cancel`, `tcp.close`, the request's end dropping what it holds);
//! - the wait holds no lock (the gate is cloned out of `Resources` first), and a wait that is
//!   dropped (the host call aborted when its request ends, at its wall limit at the latest)
//!   takes no slot and leaves its place in the queue.
//!
//! Trusts: nothing; the caller decides what a connection is.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::supervisor::Resources;

/// Connections one request may have open at once (Cloudflare's limit); more wait.
pub const MAX_OPEN: usize = 6;

/// A request's gate (one per request, in its `Resources`).
struct Gate(Arc<Semaphore>);

impl Default for Gate {
    fn default() -> Gate {
        Gate(Arc::new(Semaphore::new(MAX_OPEN)))
    }
}

/// One open connection's place; dropping it lets the next waiting connection go ahead.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Waits, in turn, for a place among the open connections of `resources`' request.
pub async fn open(resources: &Resources) -> Result<Slot, Closed> {
    let gate = resources.shared(|gate: &mut Gate| Arc::clone(&gate.0));
    gate.acquire_owned()
        .await
        .map(|permit| Slot { _permit: permit })
        .map_err(|_| Closed)
}

/// The gate was closed (never happens: no code closes it); a typed error all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request's outbound connections are closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn the_seventh_waits_in_turn_and_goes_when_one_ends() {
        let resources = Resources::default();
        let mut open_now = Vec::new();
        for _ in 0..MAX_OPEN {
            open_now.push(
                open(&resources)
                    .now_or_never()
                    .expect("room")
                    .expect("slot"),
            );
        }
        let mut seventh = Box::pin(open(&resources));
        let mut eighth = Box::pin(open(&resources));
        assert!((&mut seventh).now_or_never().is_none(), "the 7th waits");
        assert!((&mut eighth).now_or_never().is_none(), "the 8th waits");
        drop(open_now.pop());
        assert!(
            (&mut eighth).now_or_never().is_none(),
            "the 8th waits its turn"
        );
        let seventh = (&mut seventh)
            .now_or_never()
            .expect("in turn")
            .expect("slot");
        drop(seventh);
        assert!((&mut eighth).now_or_never().is_some(), "then the 8th");
    }

    #[tokio::test]
    async fn a_dropped_wait_takes_no_place_and_requests_do_not_share() {
        let resources = Resources::default();
        let six: Vec<Slot> = (0..MAX_OPEN)
            .map(|_| {
                open(&resources)
                    .now_or_never()
                    .expect("room")
                    .expect("slot")
            })
            .collect();
        let mut waiting = Box::pin(open(&resources));
        assert!((&mut waiting).now_or_never().is_none());
        drop(waiting);
        let other = Resources::default();
        assert!(
            open(&other).now_or_never().is_some(),
            "another request's own"
        );
        drop(six);
        let again: Vec<Slot> = (0..MAX_OPEN)
            .map(|_| {
                open(&resources)
                    .now_or_never()
                    .expect("room")
                    .expect("slot")
            })
            .collect();
        assert_eq!(again.len(), MAX_OPEN, "the dropped wait took none");
    }
}
