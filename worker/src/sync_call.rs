//! A synchronous host call's other end in the worker process: the isolate thread, inside the
//! entry that made the call, sends it to the supervisor and waits on its own inbox for the
//! answer (`inbox.rs`, `ThreadInbox::wait_for_reply`), keeping whatever else it takes meanwhile
//! for after the entry. The isolate crate decides which calls may be synchronous, charges the
//! wait to the entry and ends it by the entry's budget (`stockade_isolate::SyncHost`).
//!
//! Guarantees: a call goes out only for a request this process has in flight (its route, which
//! lives until its answer: the supervisor ends a link that calls for any other); the wait blocks
//! on the inbox (its socket or its queue's wake-up), never spins; it enters no isolate and
//! touches nothing of an isolate's keyed memory (the inbox and the frames are the process's
//! ordinary heap), so it runs under the entry's PKRU as it is. Trusts: the inbox's routing.

use std::sync::Arc;
use std::time::Instant;

use stockade_ipc::{RequestId, ToSupervisor};
use stockade_isolate::{SyncEnd, SyncHost};

use super::inbox::{Reply, ThreadInbox};
use super::shared::Shared;

/// The [`SyncHost`] of an isolate on one isolate thread.
pub struct SyncWait {
    pub shared: Arc<Shared>,
    pub inbox: ThreadInbox,
}

impl SyncHost for SyncWait {
    fn call(
        &mut self,
        tag: u64,
        call: u32,
        name: &str,
        payload: Vec<u8>,
        deadline: Instant,
    ) -> SyncEnd {
        let request = RequestId(tag);
        if !self.shared.routes().contains_key(&request) {
            return SyncEnd::Ended("this request has ended: it can make no host call".into());
        }
        self.shared.send(&ToSupervisor::HostCall {
            request_id: request,
            call_id: call,
            name: name.to_owned(),
            payload,
        });
        match self.inbox.wait_for_reply(request, call, deadline) {
            Reply::Answered(result) => SyncEnd::Answered(result),
            Reply::TimedOut => SyncEnd::TimedOut,
            Reply::Cancelled => SyncEnd::Ended("the request was cancelled".into()),
            Reply::Closed => SyncEnd::Ended("the worker process is shutting down".into()),
        }
    }
}
