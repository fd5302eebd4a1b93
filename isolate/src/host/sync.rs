//! Synchronous host calls (`__stockade_host.callSync`): what may be one ([`SYNC_HOST_CALLS`], a
//! Durable Object's storage), how its owner waits for the answer ([`SyncHost`]), and the bridge's
//! callback that sends one and waits inside the entry.
//!
//! What a synchronous call costs its request, which holds its isolate's thread while it waits:
//! - the CPU the host reports it spent answering (SQLite's work, measured by the supervisor on
//!   the thread that ran it) is charged to the entry as if JavaScript had spent it, and the host
//!   is told what the entry has left, the most it may spend;
//! - the rest of the wait (a disk's `fsync`, the object's queue) is free up to
//!   [`SYNC_WAIT_ALLOWANCE`] per task (request), so a write on a slow or loaded disk does not
//!   fail on a small CPU budget, and is charged as CPU past it, so a request holds its thread at
//!   most its CPU budget plus that allowance in all (a neighbour on the thread waits no longer);
//! - the wait ends at the task's wall deadline (the wall limit) or when the charge would pass
//!   the CPU budget (the CPU limit);
//! - the thread's own CPU while it waits (reading its socket for the others) is on its clock.
//!
//! Guarantees and trusts: the parent module's (`host.rs`); the host's report of what it spent.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use super::{state, HostState, MAX_HOST_CALLS_PER_TASK, MAX_HOST_CALL_NAME, MAX_HOST_CALL_PAYLOAD};
use crate::error::LimitKind;
use crate::ffi;

/// How long a task's synchronous calls may wait in all, beyond the CPU their host spent, before
/// the wait counts as the task's CPU time: the disk's share of a write, which a loaded machine can
/// stretch well past a small CPU budget.
pub const SYNC_WAIT_ALLOWANCE: Duration = Duration::from_millis(500);

/// How a synchronous host call's wait ended.
#[derive(Debug)]
pub enum SyncEnd {
    /// The host's answer (bytes, or its error message), and the CPU time it spent answering,
    /// which is charged to the entry.
    Answered {
        result: Result<Vec<u8>, String>,
        host_cpu: Duration,
    },
    /// The deadline passed first.
    TimedOut,
    /// The wait ended for another reason (the request was cancelled, the host went away): why.
    Ended(String),
}

/// Sends a synchronous host call and waits for its answer, on the isolate's thread, inside the
/// entry that made it (see [`crate::Worker::set_sync_host`]). It must not enter any isolate.
pub trait SyncHost {
    /// Sends call `call` named `name` for the request tagged `tag`, allowed to spend at most
    /// `cpu_left` of CPU time on it, and waits for its answer until `deadline` at the latest.
    fn call(
        &mut self,
        tag: u64,
        call: u32,
        name: &str,
        payload: Vec<u8>,
        cpu_left: Duration,
        deadline: Instant,
    ) -> SyncEnd;
}

/// The host calls that may be synchronous (`__stockade_host.callSync`): a Durable Object's
/// storage operations, which answer from the object's own file. Anything else (an outbound
/// `fetch`, a binding's call to another worker) is refused here, whatever the JavaScript asks.
pub const SYNC_HOST_CALLS: &[&str] = &[
    "do.get",
    "do.put",
    "do.delete",
    "do.deleteAll",
    "do.list",
    "do.sql",
    "do.getAlarm",
    "do.setAlarm",
    "do.deleteAlarm",
    "do.txn",
];

/// Whether a host call named `name` may be made synchronously. Debug builds also let the test
/// call `test.echo` (a wait that spends no CPU: the proof that a wait is wall-clock time).
pub fn may_call_synchronously(name: &str) -> bool {
    SYNC_HOST_CALLS.contains(&name) || (cfg!(debug_assertions) && name == "test.echo")
}

/// `stk_host.host_call_sync`: sends the call through the owner's [`SyncHost`] and waits for its
/// answer inside the entry until the task's wall deadline (past it, the entry's watch fires for
/// the wall limit); the CPU the host spent is charged to the entry (past its budget, the watch
/// fires for the CPU limit, as if JavaScript had spent it). Only [`SYNC_HOST_CALLS`] are
/// accepted.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn host_call_sync(
    ud: *mut c_void,
    call: u32,
    task: u32,
    name: *const u8,
    name_len: usize,
    payload: *const u8,
    payload_len: usize,
    answer: *mut *const u8,
    answer_len: *mut usize,
) -> i32 {
    if ud.is_null() || answer.is_null() || answer_len.is_null() {
        return ffi::STK_SYNC_REFUSED;
    }
    // SAFETY: the bridge passes our userdata, on the isolate's thread, inside an entry; no other
    // reference to the state is live during this callback (the wait below enters no isolate).
    let st = unsafe { state(ud) };
    let (status, message) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the bridge passes buffers of the given lengths, valid for this call.
        let name = (!name.is_null() && name_len <= MAX_HOST_CALL_NAME)
            .then(|| unsafe { std::slice::from_raw_parts(name, name_len) });
        let payload = if payload.is_null() || payload_len == 0 {
            Some(&[][..])
        } else {
            // SAFETY: as above.
            (payload_len <= MAX_HOST_CALL_PAYLOAD)
                .then(|| unsafe { std::slice::from_raw_parts(payload, payload_len) })
        };
        sync_call(st, call, task, name, payload)
    }))
    .unwrap_or_else(|_| {
        (
            ffi::STK_SYNC_REFUSED,
            Err("internal error in a synchronous host call".to_owned()),
        )
    });
    st.sync_answer = match message {
        Ok(bytes) => bytes,
        Err(text) => text.into_bytes(),
    };
    // SAFETY: the out-pointers are the bridge's, valid for this call; the bytes live in the
    // state until the next callback (bridge.h).
    unsafe {
        *answer = st.sync_answer.as_ptr();
        *answer_len = st.sync_answer.len();
    }
    status
}

/// The work of [`host_call_sync`]: its status and answer bytes (or message).
fn sync_call(
    st: &mut HostState,
    call: u32,
    task: u32,
    name: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> (i32, Result<Vec<u8>, String>) {
    let refuse = |why: String| (ffi::STK_SYNC_REFUSED, Err(why));
    let task = st.task_or_current(task);
    let Some(name) = name.and_then(|n| std::str::from_utf8(n).ok()) else {
        return refuse("a host call needs a name".into());
    };
    if !may_call_synchronously(name) {
        return refuse(format!(
            "the host call `{name}` cannot be made synchronously (only a Durable Object's storage calls can)"
        ));
    }
    let Some(payload) = payload else {
        return refuse(format!(
            "a host call carries at most {MAX_HOST_CALL_PAYLOAD} bytes"
        ));
    };
    if !st.calling_tasks.contains(&task) {
        return refuse("this invocation is over: it can make no host call".into());
    }
    let (Some(tag), Some(entry)) = (st.tags.get(&task).copied(), st.entry.as_ref()) else {
        return refuse("a synchronous host call needs a running invocation".into());
    };
    let in_flight = st.task_calls.get(&task).map_or(0, |c| c.in_flight);
    if in_flight >= MAX_HOST_CALLS_PER_TASK {
        return refuse(format!(
            "this request has {MAX_HOST_CALLS_PER_TASK} host calls in flight: a synchronous one must wait for them"
        ));
    }
    // SAFETY: `guard` points to the running entry's watch, which outlives the entry (the worker
    // clears `entry` before dropping it), and this callback runs inside that entry.
    let guard = unsafe { &*entry.guard };
    let (cpu_budget, wall_deadline) = (entry.cpu, entry.deadline);
    let waited = st.sync_waited.get(&task).copied().unwrap_or_default();
    let free = SYNC_WAIT_ALLOWANCE.saturating_sub(waited);
    let now = Instant::now();
    let cpu_left = cpu_budget.saturating_sub(guard.cpu_spent());
    if cpu_left.is_zero() {
        guard.expire(LimitKind::Cpu);
        return (
            ffi::STK_SYNC_ENDED,
            Err(format!(
                "`{name}` was not sent: the request has no CPU time left"
            )),
        );
    }
    let Some(mut host) = st.sync_host.take() else {
        return refuse("host calls need a worker process; this isolate has no host".into());
    };
    st.task_calls.entry(task).or_default().in_flight += 1;
    // Past `cpu_left + free` the wait alone would have spent the budget.
    let deadline = wall_deadline.min(now + cpu_left + free);
    let ran_before = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
    let end = host.call(tag, call, name, payload.to_vec(), cpu_left, deadline);
    // What the thread itself ran meanwhile is on its clock; the rest of the wait is the host's.
    let ran = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(ran_before);
    let wait = now.elapsed().saturating_sub(ran);
    st.sync_host = Some(host);
    if let Some(calls) = st.task_calls.get_mut(&task) {
        calls.in_flight = calls.in_flight.saturating_sub(1);
        if calls.in_flight == 0 && calls.queued.is_empty() {
            st.task_calls.remove(&task);
        }
    }
    let host_cpu = match &end {
        SyncEnd::Answered { host_cpu, .. } => (*host_cpu).min(wait),
        _ => Duration::ZERO,
    };
    let idle = wait.saturating_sub(host_cpu);
    if !idle.is_zero() {
        *st.sync_waited.entry(task).or_default() += idle.min(free);
    }
    guard.charge(host_cpu + idle.saturating_sub(free));
    match end {
        SyncEnd::Answered { result, .. } => match (guard.fired(), result) {
            // The host's work, or the wait, took what the request had left: the entry ends here.
            (Some(LimitKind::Cpu), _) => (
                ffi::STK_SYNC_ENDED,
                Err(format!(
                    "`{name}` used the CPU time the request had left ({} ms)",
                    cpu_left.as_millis()
                )),
            ),
            (Some(_), _) => (
                ffi::STK_SYNC_ENDED,
                Err(format!(
                    "`{name}` answered past the request's wall-clock limit"
                )),
            ),
            (None, Ok(bytes)) => (ffi::STK_SYNC_OK, Ok(bytes)),
            (None, Err(message)) => (ffi::STK_SYNC_FAILED, Err(message)),
        },
        SyncEnd::TimedOut => {
            let kind = if deadline >= wall_deadline {
                LimitKind::Wall
            } else {
                LimitKind::Cpu
            };
            guard.expire(kind);
            let limit = if kind == LimitKind::Wall {
                "wall-clock limit"
            } else {
                "CPU budget (its wait past the storage allowance counts as CPU)"
            };
            (
                ffi::STK_SYNC_ENDED,
                Err(format!(
                    "`{name}` did not answer within the request's {limit}: waited {} ms",
                    wait.as_millis()
                )),
            )
        }
        SyncEnd::Ended(why) => (ffi::STK_SYNC_ENDED, Err(why)),
    }
}
