//! Durable Objects (`{"binding": "durable_object_namespace", "class_name": "Counter"}`): which
//! objects are live (`directory`), their storage (`db`, its key-value operations `kv`), their
//! alarms (`alarms`: kept and scheduled), their names (`name`: kept for the incarnations events
//! construct), and the `ctx.storage` host calls an object's isolate makes. The calls that reach
//! an object (`do.call`, `do.fetch`), the eviction of idle objects and the firing of alarms are
//! the API's (`api/objects.rs`, `api/object_alarms.rs`), which places them with the pool.
//!
//! Storage host calls (framed like the other storage calls; made only by an object's own
//! isolate, whose definition the directory knows: any other caller is refused):
//! - `do.get` `{keys}` → `{keys, lengths}` + the values found, concatenated;
//! - `do.put` `{keys, lengths}` + the values → `{}` (one transaction);
//! - `do.delete` `{keys}` → `{count}`; `do.deleteAll` `{}` → `{count}`;
//! - `do.list` `{start?, startAfter?, end?, prefix?, reverse?, limit?}` → as `do.get`;
//! - `do.sql` `{sql, params}` (+ BLOB bytes, as `d1.query`) → `{columns, rows, meta}` as D1's;
//! - `do.txn` `{op: "begin" | "commit" | "rollback"}` → `{count: 0}`: one level of a transaction
//!   held between calls (`txn.rs`; a request's transaction it left open is rolled back);
//! - `do.getAlarm` `{}`, `do.setAlarm` `{time}` (ms since the epoch, at most JavaScript's last
//!   date), `do.deleteAlarm` `{}` → `{time}` (the alarm set after the call, or null; `alarms`).
//!
//! A value is the runtime's encoding of a structured-cloneable value (rpc.js's tagged JSON),
//! opaque here. Errors: `{"error": {"name": "Error", "message"}}` (SQLite's, D1's shape) or a
//! `TypeError` for a malformed call.
//!
//! Guarantees: which object a storage call touches is the directory's answer for the calling
//! request's definition (attached by the supervisor), never the payload's; an object's
//! operations run in the order its isolate made them (queued before the handler's future runs).
//! Trusts: the call context.

pub mod alarms;
pub mod db;
pub mod directory;
mod kv;
mod name;
pub mod sockets;
mod split;
pub mod txn;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use crate::storage::{frame, split};
use crate::supervisor::{CallContext, HostCalls};
use db::{Done, ListOptions, ObjectDb, Work, MAX_KEYS, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use directory::Directory;
use txn::TxnOp;

/// `[durable_objects]`, resolved.
#[derive(Debug, Clone)]
pub struct ObjectsSettings {
    pub db: db::DbSettings,
    pub idle: Duration,
    pub max_live_per_tenant: usize,
    pub max_live: usize,
    /// The first wait before a failed alarm runs again (doubled for each retry).
    pub alarm_retry: Duration,
}

/// The live objects and their storage.
pub struct Objects {
    pub settings: ObjectsSettings,
    directory: Mutex<Directory>,
    pub db: Arc<ObjectDb>,
    /// The objects' accepted WebSockets (`sockets.rs`).
    pub sockets: sockets::ObjectSockets,
}

/// The close reason of a socket whose listeners' instance is gone (as `durable-websocket.js`).
pub const INSTANCE_GONE: &str =
    "the Durable Object's instance that accepted this WebSocket is gone";

/// The storage operations, each of which an object's isolate may call synchronously.
const OPS: [&str; 10] = stockade_ipc::host_calls::SYNCHRONOUS;

/// From this compatibility date on, `deleteAll()` deletes the alarm too (Cloudflare's; dates
/// are `YYYY-MM-DD`, checked by the Loader API, so they order as text).
const DELETE_ALL_ALARM_DATE: &str = "2026-02-24";

fn refusal(name: &str, message: impl Into<String>) -> Vec<u8> {
    frame(
        &json!({"error": {"name": name, "message": message.into()}}),
        &[],
    )
}

impl Objects {
    pub fn new(settings: ObjectsSettings) -> Arc<Objects> {
        Arc::new(Objects {
            db: ObjectDb::new(settings.db.clone()),
            settings,
            directory: Mutex::default(),
            sockets: sockets::ObjectSockets::default(),
        })
    }

    /// Worker process life `life` is gone (it died, or retired and exited): the objects'
    /// instances there are gone, and with them the listeners of the sockets those instances
    /// `accept()`ed themselves, which are closed with 1011 at once (as the next instance would at
    /// its construction, `durable-websocket.js::doWsLoad`), not left open until their clients
    /// speak. Sockets an instance in another process accepted, and hibernatable ones, stay.
    pub fn instances_gone(&self, life: u64) {
        self.sockets.close_listening(life, 1011, INSTANCE_GONE);
    }

    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the `ctx.storage` calls (`do.get`, `do.put`, ...).
    pub fn register(self: &Arc<Objects>, calls: &mut HostCalls) {
        for op in OPS {
            let me = Arc::clone(self);
            calls.register_in_context(op, move |context, payload| {
                // Queued here, synchronously, so that an object's operations keep their order.
                let queued = me.queue(op, &context, &payload);
                async move {
                    match queued {
                        Ok(answer) => Ok(answer.await),
                        Err(Ok(refused)) => Ok(refused),
                        Err(Err(why)) => Err(why),
                    }
                }
            });
        }
        let me = Arc::clone(self);
        calls.on_exit(Box::new(move |life| me.instances_gone(life)));
        for op in ["do.ws.send", "do.ws.auto", "do.ws.state"] {
            let me = Arc::clone(self);
            calls.register_in_context(op, move |context, payload| {
                // Applied here, synchronously, so that the object's sends keep their order.
                let answer = me.socket_call(op, &context, &payload);
                async move { answer }
            });
        }
    }

    /// Why a storage or socket call (`what`) of the request of definition `incarnation` has no
    /// object.
    fn not_live(&self, incarnation: Option<&stockade_ipc::WorkerId>, what: &str) -> String {
        if incarnation.is_some_and(|id| self.directory().was_reset(id)) {
            format!(
                "this Durable Object was reset because its worker has a new version; its {what} \
                 is the new instance's now"
            )
        } else {
            format!("{what} belongs to a live Durable Object; this request is not one's")
        }
    }

    /// A `do.ws.*` call of the calling object's (`sockets.rs`).
    fn socket_call(
        &self,
        op: &str,
        context: &CallContext,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let (key, keep) = context
            .caller
            .worker
            .as_ref()
            .and_then(|def| {
                let mut directory = self.directory();
                match op {
                    // A send (an accept among them): the object's sockets may outlive it, and an
                    // incarnation their events construct reads its name from its file.
                    "do.ws.send" => directory.object_keeping(&def.id),
                    _ => directory.object_of(&def.id).map(|k| (k.clone(), None)),
                }
            })
            .ok_or_else(|| {
                let incarnation = context.caller.worker.as_ref().map(|def| def.id);
                self.not_live(incarnation.as_ref(), "ctx.acceptWebSocket")
            })?;
        if let Some(name) = keep {
            self.db.keep_name(&key, name);
        }
        let (head, bytes) = split(payload)?;
        let done = match op {
            "do.ws.send" => self
                .sockets
                .apply(&key, context.life, bytes)
                .map(|()| json!({})),
            "do.ws.auto" => self.sockets.set_auto(&key, &head).map(|()| json!({})),
            _ => Ok(self.sockets.state(&key)),
        };
        Ok(match done {
            Ok(head) => frame(&head, &[]),
            Err(why) => refusal("TypeError", why),
        })
    }

    /// Parses `op` and queues it on the calling object's file.
    #[allow(clippy::type_complexity)]
    fn queue(
        self: &Arc<Self>,
        op: &'static str,
        context: &CallContext,
        payload: &[u8],
    ) -> Result<
        std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u8>> + Send>>,
        Result<Vec<u8>, String>,
    > {
        let incarnation = context.caller.worker.as_ref().map(|def| def.id);
        let (key, keep) = incarnation
            .as_ref()
            .and_then(|id| self.directory().object_keeping(id))
            .ok_or_else(|| Err(self.not_live(incarnation.as_ref(), "ctx.storage")))?;
        if let Some(name) = keep {
            // Queued first: the incarnation's first storage call keeps its name with the file.
            self.db.keep_name(&key, name);
        }
        let (head, bytes) = split(payload).map_err(Err)?;
        let mut work = work(op, &head, bytes).map_err(|why| Ok(refusal("TypeError", why)))?;
        let date = context
            .caller
            .worker
            .as_ref()
            .and_then(|d| d.compatibility_date.as_deref());
        if matches!(work, Work::DeleteAll) && date.is_some_and(|d| d >= DELETE_ALL_ALARM_DATE) {
            work = Work::DeleteAllAndAlarm;
        }
        if matches!(work, Work::Txn(TxnOp::Begin)) {
            // Whatever way the request ends, the queue then looks at the transaction it began.
            let (db, key) = (Arc::downgrade(&self.db), key.clone());
            context.resources.shared(|hold: &mut TxnHold| {
                if !hold.0.iter().any(|(_, k)| *k == key) {
                    hold.0.push((db, key));
                }
            });
        }
        let owner = incarnation.map(|id| txn::owner(&context.resources, id));
        let charge = db::Charge {
            cpu_left: context.cpu_left,
            spent: context.spent.clone(),
        };
        let done = self.db.submit_as(&key, work, owner, Some(charge));
        Ok(Box::pin(async move { answer(done.await) }))
    }
}

/// The objects a request began transactions on: when the request ends (its `Resources` are
/// dropped), each object's queue is nudged, and rolls back a transaction the request left open
/// before anything else runs (`txn::turn`).
#[derive(Default)]
struct TxnHold(Vec<(std::sync::Weak<ObjectDb>, directory::ObjectKey)>);

impl Drop for TxnHold {
    fn drop(&mut self) {
        for (db, key) in self.0.drain(..) {
            if let Some(db) = db.upgrade() {
                db.nudge(&key);
            }
        }
    }
}

fn string_list(head: &Value, field: &str) -> Result<Vec<String>, String> {
    let list = head
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the call needs its {field}"))?;
    if list.len() > MAX_KEYS {
        return Err(format!("at most {MAX_KEYS} keys at once"));
    }
    list.iter()
        .map(|k| {
            let k = k.as_str().ok_or("a key is a string")?;
            if k.len() > MAX_KEY_BYTES {
                return Err(format!("a key is at most {MAX_KEY_BYTES} bytes"));
            }
            Ok(k.to_owned())
        })
        .collect()
}

fn optional_string(head: &Value, field: &str) -> Result<Option<String>, String> {
    match head.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn work(op: &str, head: &Value, bytes: &[u8]) -> Result<Work, String> {
    Ok(match op {
        "do.get" => Work::Get(string_list(head, "keys")?),
        "do.delete" => Work::Delete(string_list(head, "keys")?),
        "do.deleteAll" => Work::DeleteAll,
        "do.put" => {
            let keys = string_list(head, "keys")?;
            let lengths = head
                .get("lengths")
                .and_then(Value::as_array)
                .filter(|l| l.len() == keys.len())
                .ok_or("a put needs one length per key")?;
            let mut at = 0usize;
            let mut entries = Vec::with_capacity(keys.len());
            for (k, n) in keys.into_iter().zip(lengths) {
                let n = n
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n <= MAX_VALUE_BYTES)
                    .ok_or_else(|| format!("a value is at most {MAX_VALUE_BYTES} bytes"))?;
                let end = at.checked_add(n).ok_or("a length is malformed")?;
                let v = bytes.get(at..end).ok_or("a length is malformed")?;
                entries.push((k, v.to_vec()));
                at = end;
            }
            Work::Put(entries)
        }
        "do.list" => Work::List(ListOptions {
            start: optional_string(head, "start")?,
            start_after: optional_string(head, "startAfter")?,
            end: optional_string(head, "end")?,
            prefix: optional_string(head, "prefix")?,
            reverse: head
                .get("reverse")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            limit: match head.get("limit") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or("limit must be a positive integer")?),
            },
        }),
        "do.sql" => Work::Sql(crate::storage::d1_calls::query(head, bytes)?),
        "do.getAlarm" => Work::GetAlarm,
        "do.txn" => Work::Txn(match head.get("op").and_then(Value::as_str) {
            Some("begin") => TxnOp::Begin,
            Some("commit") => TxnOp::Commit,
            Some("rollback") => TxnOp::Rollback,
            _ => return Err("a transaction's op is begin, commit or rollback".into()),
        }),
        "do.deleteAlarm" => Work::DeleteAlarm(None),
        "do.setAlarm" => {
            let max = alarms::MAX_TIME_MS as f64;
            let time = head
                .get("time")
                .and_then(Value::as_f64)
                .filter(|t| t.is_finite() && t.abs() <= max)
                .ok_or(
                    "setAlarm takes a time in milliseconds since the epoch (a number or a Date)",
                )?;
            // In range, so the cast is exact to the millisecond.
            Work::SetAlarm(time.floor() as i64)
        }
        _ => return Err(format!("no storage operation {op}")),
    })
}

fn answer(done: Result<Done, crate::storage::d1_exec::SqlError>) -> Vec<u8> {
    match done {
        Ok(Done::Entries(entries)) => {
            let mut bytes = Vec::new();
            let (mut keys, mut lengths) = (Vec::new(), Vec::new());
            for (k, v) in entries {
                lengths.push(v.len());
                bytes.extend_from_slice(&v);
                keys.push(k);
            }
            frame(&json!({"keys": keys, "lengths": lengths}), &bytes)
        }
        Ok(Done::Count(n)) => frame(&json!({ "count": n }), &[]),
        Ok(Done::Alarm(time)) => frame(&json!({ "time": time }), &[]),
        Ok(Done::Name(name)) => frame(&json!({ "name": name }), &[]),
        Ok(Done::Sql(o)) => {
            let mut bytes = Vec::new();
            let head = crate::storage::d1_calls::outcome(o, &mut bytes);
            frame(&head, &bytes)
        }
        Err(e) => refusal("Error", e.0),
    }
}

/// The TypeScript of a `durable_object_namespace` binding (`GET /v1/workers/{id}/types`).
pub const DECLARATIONS: &str = "interface DurableObjectId { toString(): string; equals(other: DurableObjectId): boolean; readonly name?: string }
interface DurableObjectStub {
  readonly id: DurableObjectId; readonly name?: string;
  fetch(input: Request | string, init?: RequestInit): Promise<Response>;
  [method: string]: any;
}
interface DurableObjectNamespace {
  idFromName(name: string): DurableObjectId;
  newUniqueId(): DurableObjectId;
  idFromString(hex: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub;
  getByName(name: string): DurableObjectStub;
}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_calls_are_parsed_strictly() {
        let head = json!({"keys": ["a", "b"], "lengths": [1, 2]});
        match work("do.put", &head, b"xyz").expect("valid") {
            Work::Put(e) => assert_eq!(
                e,
                vec![("a".into(), b"x".to_vec()), ("b".into(), b"yz".to_vec())]
            ),
            _ => panic!("a put"),
        }
        for (op, bad) in [
            ("do.put", json!({"keys": ["a"], "lengths": [4]})),
            ("do.put", json!({"keys": ["a"], "lengths": []})),
            ("do.get", json!({"keys": [1]})),
            ("do.get", json!({"keys": vec!["k"; MAX_KEYS + 1]})),
            ("do.get", json!({"keys": ["k".repeat(MAX_KEY_BYTES + 1)]})),
            ("do.list", json!({"limit": -1})),
            ("do.list", json!({"prefix": 3})),
            ("do.setAlarm", json!({})),
            ("do.setAlarm", json!({"time": "soon"})),
            ("do.setAlarm", json!({"time": 1e300})),
            ("do.drop", json!({})),
        ] {
            assert!(work(op, &bad, b"xyz").is_err(), "{op} {bad}");
        }
    }
}
