//! A synchronous host call's other end in the worker process: the isolate thread, inside the
//! entry that made the call, sends it to the supervisor and waits on its own inbox for the
//! answer (`inbox.rs`, `ThreadInbox::wait_for_reply`), keeping whatever else it takes meanwhile
//! for after the entry. The isolate crate decides which calls may be synchronous, what the
//! wait and the supervisor's reported CPU cost the entry, and when the wait ends
//! (`stockade_isolate::SyncHost`); the call tells the supervisor the CPU its request has left.
//!
//! Guarantees: a call goes out only for a request this process has in flight (its route, which
//! lives until its answer: the supervisor ends a link that calls for any other); the wait blocks
//! on the inbox (its socket or its queue's wake-up), never spins; it enters no isolate and
//! touches nothing of an isolate's keyed memory (the inbox and the frames are the process's
//! ordinary heap), so it runs under the entry's PKRU as it is. Trusts: the inbox's routing.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
        cpu_left: Duration,
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
            // At least 1 µs: 0 would say the call is asynchronous.
            cpu_left_us: u32::try_from(cpu_left.as_micros())
                .unwrap_or(u32::MAX)
                .max(1),
        });
        match self.inbox.wait_for_reply(request, call, deadline) {
            Reply::Answered(result, host_cpu) => SyncEnd::Answered { result, host_cpu },
            Reply::TimedOut => SyncEnd::TimedOut,
            Reply::Cancelled => SyncEnd::Ended("the request was cancelled".into()),
            Reply::Closed => SyncEnd::Ended("the worker process is shutting down".into()),
        }
    }
}
