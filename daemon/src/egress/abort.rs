//! Aborting a fetch while the host works on it (`fetch.abort`): every `fetch()` and every service
//! binding's `fetch` carries a number its runtime gave it (`call`), and an abort naming it ends
//! the host's wait for a delivery to a worker (`globalOutbound: {"worker": id}`), a service
//! binding's answer or a network hop's head: the future is dropped, so the target's request is
//! cancelled, or the upstream's connection closed (`gateway`).
//!
//! Guarantees: an abort only reaches the fetches of the request that sent it (the table lives in
//! that request's `Resources`); an abort handled before the fetch it names started is
//! remembered (the two host calls may be handled in either order), at most [`EARLY_ABORTS`] of
//! them. Trusts: nothing in the payload (a number).

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

use crate::supervisor::Resources;

/// Aborts that came before (or without) the fetch they name, remembered at most.
pub const EARLY_ABORTS: usize = 64;

/// The fetches of one request still waiting for their answer, by the number the caller's
/// runtime gave each (`call`), so `fetch.abort` can end one.
#[derive(Default)]
struct Aborts {
    live: HashMap<u32, oneshot::Sender<()>>,
    early: VecDeque<u32>,
}

/// Ends the wait of fetch `call` when dropped (it answered, or was itself dropped).
pub struct Watch<'a> {
    resources: &'a Resources,
    call: Option<u32>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let Some(call) = self.call {
            self.resources.shared(|a: &mut Aborts| a.live.remove(&call));
        }
    }
}

/// The watch of fetch `call` and what fires when it is aborted; `None` when it was aborted
/// already.
pub fn watch(
    resources: &Resources,
    call: Option<u32>,
) -> Option<(Watch<'_>, oneshot::Receiver<()>)> {
    let (tx, rx) = oneshot::channel();
    if let Some(call) = call {
        let early = resources.shared(|a: &mut Aborts| {
            if let Some(at) = a.early.iter().position(|&c| c == call) {
                a.early.remove(at);
                return true;
            }
            a.live.insert(call, tx);
            false
        });
        if early {
            return None;
        }
    }
    Some((Watch { resources, call }, rx))
}

/// `fetch.abort` (payload: the call's number, u32 LE): ends the wait of fetch `call`, or
/// remembers the abort for a fetch not started yet.
pub fn abort(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, String> {
    let call: [u8; 4] = payload
        .try_into()
        .map_err(|_| "fetch.abort names a call by 4 bytes")?;
    let call = u32::from_le_bytes(call);
    resources.shared(|a: &mut Aborts| {
        if let Some(tx) = a.live.remove(&call) {
            let _ = tx.send(());
        } else {
            a.early.push_back(call);
            while a.early.len() > EARLY_ABORTS {
                a.early.pop_front();
            }
        }
    });
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abort_call(resources: &Resources, call: u32) {
        abort(resources, &call.to_le_bytes()).expect("a number");
    }

    #[tokio::test]
    async fn an_abort_ends_its_fetchs_wait_whichever_comes_first() {
        let resources = Resources::default();
        // The fetch first: the abort fires its wait.
        let (watch1, fired) = watch(&resources, Some(1)).expect("not aborted");
        abort_call(&resources, 1);
        assert_eq!(fired.await, Ok(()));
        drop(watch1);
        // The abort first: the fetch finds it aborted, once.
        abort_call(&resources, 2);
        assert!(watch(&resources, Some(2)).is_none());
        assert!(watch(&resources, Some(2)).is_some());
        // A fetch that ended is forgotten: its number's later abort touches no other fetch.
        let (watch3, mut waiting) = watch(&resources, Some(3)).expect("not aborted");
        drop(watch3);
        assert!(waiting.try_recv().is_err());
        assert!(resources.shared(|a: &mut Aborts| a.live.is_empty()));
        // Early aborts are remembered at most EARLY_ABORTS.
        for call in 100..100 + 2 * EARLY_ABORTS as u32 {
            abort_call(&resources, call);
        }
        assert_eq!(
            resources.shared(|a: &mut Aborts| a.early.len()),
            EARLY_ABORTS
        );
        assert!(abort(&resources, b"xy").is_err(), "a malformed number");
    }
}
