//! What the supervisor and the engine must agree on about host calls beyond their frames.
//!
//! Guarantees: [`continues_a_stream`] and [`SYNCHRONOUS`] are the supervisor's copies of the
//! engine's lists (`stockade_isolate::continues_a_stream`, `stockade_isolate::SYNC_HOST_CALLS`;
//! the engine does not link this crate); the worker's tests check each pair agrees. Trusts
//! nothing.

/// The host calls that continue a stream their request already holds: the request's own body
/// (`body.*`), its fetches' uploads and answers (`fetch.read`, `fetch.write`, `fetch.cancel`,
/// `fetch.abort`) and the bodies it pipes over RPC (`pipe.write`, `pipe.close`, `pipe.read`,
/// `pipe.cancel`; the supervisor refuses a fifth write, or a second read, of one pipe at a time).
pub const STREAM_CONTINUATIONS: [&str; 11] = [
    "body.read",
    "body.write",
    "body.end",
    "fetch.read",
    "fetch.write",
    "fetch.cancel",
    "fetch.abort",
    "pipe.write",
    "pipe.close",
    "pipe.read",
    "pipe.cancel",
];

/// Whether a host call named `name` continues a stream: it takes no place among the request's
/// host calls in flight (each stream has a few such calls at a time at most: the runtime keeps
/// 4 writes of a response body or a pipe in flight, one call otherwise; and a request holds few
/// streams), so fetches waiting for their uploads can never hold the places the uploads need.
pub fn continues_a_stream(name: &str) -> bool {
    STREAM_CONTINUATIONS.contains(&name)
}

/// The host calls an isolate may make synchronously (its thread waits for the answer inside the
/// entry): a Durable Object's storage operations, every one of them (`daemon/src/objects`
/// serves exactly these). The engine refuses any other synchronous call.
pub const SYNCHRONOUS: [&str; 10] = [
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
