//! Cloudflare's "simultaneous open connections": a request has at most [`MAX_OPEN`] outbound
//! connections at once waiting for their answers, its `fetch()`es (from the first hop's start
//! until the last hop's response head arrived, as Cloudflare counts them since April 2026; an
//! outbound WebSocket until its 101) and its `connect()` sockets (until closed) together. One
//! more is not refused: it waits, in the order asked, until one of them answers or ends, then
//! goes ahead; `stockade_egress_connections_waiting` ([`render`]) counts the waits. The calls of the bindings Cloudflare
//! counts too ([`counts`]: KV, the Cache API, R2, Queues) are open connections while in flight;
//! R2's `put` and `uploadPart` take their place themselves ([`BINDING_CALLS`]' note).
//!
//! Guarantees:
//! - one gate per request, kept in its `Resources` (another request's connections never count);
//! - first come, first served (tokio's `Semaphore` is fair);
//! - a [`Slot`] is given back exactly once, when it is dropped, whichever way its connection
//!   ends (an error, `fetch.cancel`, `tcp.close`, the request's end dropping what it holds);
//! - the wait holds no lock (the gate is cloned out of `Resources` first), and a wait that is
//!   dropped (the host call aborted when its request ends, at its wall limit at the latest)
//!   takes no slot and leaves its place in the queue; the link closes the gate first
//!   ([`close`]), so no wait woken meanwhile goes ahead after its request ended;
//! - a counted binding call ([`gated`]) starts only once it holds a slot, and gives it back when
//!   it ends or is dropped (an R2 body streaming on after its `r2.get` answered holds none, as a
//!   fetch's body holds none).
//!
//! Trusts: nothing; the caller decides what a connection is.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
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

/// Connections of every request waiting for a place now (the gauge [`render`] shows).
static WAITING: AtomicI64 = AtomicI64::new(0);

/// One connection counted in [`WAITING`] while it lives.
struct Waiting;

impl Waiting {
    fn start() -> Waiting {
        WAITING.fetch_add(1, Ordering::Relaxed);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits, in turn, for a place among the open connections of `resources`' request.
pub async fn open(resources: &Resources) -> Result<Slot, Closed> {
    let gate = resources.shared(|gate: &mut Gate| Arc::clone(&gate.0));
    match Arc::clone(&gate).try_acquire_owned() {
        Ok(permit) => return Ok(Slot { _permit: permit }),
        Err(tokio::sync::TryAcquireError::Closed) => return Err(Closed),
        Err(tokio::sync::TryAcquireError::NoPermits) => {}
    }
    // Counted until it has its place or its wait is dropped (an abort, the request's end).
    let _waiting = Waiting::start();
    gate.acquire_owned()
        .await
        .map(|permit| Slot { _permit: permit })
        .map_err(|_| Closed)
}

/// `stockade_egress_connections_waiting`: the connections waiting for a place now.
pub fn render(out: &mut String) {
    use crate::metrics::{header, sample};
    let name = "stockade_egress_connections_waiting";
    header(
        out,
        name,
        "gauge",
        "Outbound connections (fetches, sockets, counted binding calls) waiting for one of their \
         request's six places.",
    );
    sample(
        out,
        name,
        &[],
        WAITING.load(Ordering::Relaxed).max(0) as f64,
    );
}

/// Closes `resources`' request's gate, when the request is over and before its host calls are
/// aborted: a call still waiting for a slot then ends with [`Closed`] whatever frees one (the
/// aborts drop the open connections' slots on other threads, and a waiter woken by one must not
/// start its call after its request ended), and none opens any more.
pub fn close(resources: &Resources) {
    // A request that opened no connection has no gate, and none is made for it here.
    resources.shared_if_made(|gate: &mut Gate| gate.0.close());
}

/// The host calls of bindings that Cloudflare counts among a request's simultaneous open
/// connections (its Workers limits: KV, Cache, R2 and Queues operations). Durable Object
/// storage, D1 and service bindings are not counted; nor are the calls that continue what a
/// counted call began (`r2.read`/`r2.cancel` of a body, `r2.write`/`r2.abort` of an upload).
/// `r2.put` and `r2.uploadPart` count themselves (`storage::r2_calls::open_connection`): one
/// that carries its bytes takes a place for the call, one that names an upload takes over the
/// place the upload took at its first `r2.write`, so a streamed put is one connection from its
/// first bytes sent to its end (six of them never wait for a seventh place).
const BINDING_CALLS: [&str; 15] = [
    "kv.get",
    "kv.put",
    "kv.delete",
    "kv.list",
    "cache.match",
    "cache.put",
    "cache.delete",
    "r2.head",
    "r2.get",
    "r2.delete",
    "r2.list",
    "r2.createMultipart",
    "r2.completeMultipart",
    "r2.abortMultipart",
    "queue.send",
];

/// Whether host call `name` is one of the request's open connections while it runs.
pub fn counts(name: &str) -> bool {
    BINDING_CALLS.contains(&name)
}

/// Runs the call `start` makes as one of `resources`' request's open connections: it waits (in
/// turn, holding nothing, ended by dropping it) for a slot, starts the call once it holds one,
/// and gives it back when the call ends or is dropped.
pub async fn gated<F: Future>(
    resources: &Resources,
    start: impl FnOnce() -> F,
) -> Result<F::Output, Closed> {
    let _slot = open(resources).await?;
    Ok(start().await)
}

/// The gate was closed: the request is over ([`close`]).
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

    /// `n` places of `resources`' request, each free at once.
    fn take(resources: &Resources, n: usize) -> Vec<Slot> {
        (0..n)
            .map(|_| open(resources).now_or_never().expect("room").expect("slot"))
            .collect()
    }

    #[tokio::test]
    async fn the_seventh_waits_in_turn_and_goes_when_one_ends() {
        let resources = Resources::default();
        let mut open_now = take(&resources, MAX_OPEN);
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
        let six: Vec<Slot> = take(&resources, MAX_OPEN);
        let mut waiting = Box::pin(open(&resources));
        assert!((&mut waiting).now_or_never().is_none());
        drop(waiting);
        let other = Resources::default();
        assert!(
            open(&other).now_or_never().is_some(),
            "another request's own"
        );
        drop(six);
        let again: Vec<Slot> = take(&resources, MAX_OPEN);
        assert_eq!(again.len(), MAX_OPEN, "the dropped wait took none");
    }

    #[tokio::test]
    async fn a_gated_call_starts_with_a_slot_and_gives_it_back() {
        assert!(counts("kv.get") && counts("r2.get") && counts("queue.send"));
        // These take their own place (or an upload's), inside their handler.
        assert!(!counts("r2.put") && !counts("r2.uploadPart") && !counts("r2.upload"));
        assert!(!counts("d1.exec") && !counts("r2.read") && !counts("fetch"));
        let resources = Resources::default();
        let mut six: Vec<Slot> = take(&resources, MAX_OPEN - 1);
        // The sixth place: a call that ends gives it back.
        assert_eq!(
            gated(&resources, || async { 7 }).now_or_never(),
            Some(Ok(7))
        );
        six.extend(take(&resources, 1));
        let started = std::sync::atomic::AtomicBool::new(false);
        let mut waiting = Box::pin(gated(&resources, || async {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        assert!((&mut waiting).now_or_never().is_none(), "six are open");
        assert!(
            !started.load(std::sync::atomic::Ordering::SeqCst),
            "not started"
        );
        drop(six.pop());
        assert_eq!((&mut waiting).now_or_never(), Some(Ok(())));
        assert!(started.load(std::sync::atomic::Ordering::SeqCst));
        // A call dropped while it runs gives its slot back.
        let mut stuck = Box::pin(gated(&resources, std::future::pending::<()>));
        assert!((&mut stuck).now_or_never().is_none());
        assert!(
            open(&resources).now_or_never().is_none(),
            "it holds the sixth"
        );
        drop(stuck);
        assert!(open(&resources).now_or_never().is_some(), "given back");
    }

    #[tokio::test]
    async fn once_closed_a_waiting_call_never_starts_whatever_frees_a_slot() {
        let resources = Resources::default();
        let six: Vec<Slot> = take(&resources, MAX_OPEN);
        let started = std::sync::atomic::AtomicBool::new(false);
        let mut waiting = Box::pin(gated(&resources, || async {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        assert!((&mut waiting).now_or_never().is_none());
        // The request is over: its gate closes, then its connections' slots go.
        close(&resources);
        drop(six);
        assert_eq!(waiting.now_or_never(), Some(Err(Closed)));
        assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            open(&resources).now_or_never().map(|o| o.err()),
            Some(Some(Closed))
        );
    }
}
