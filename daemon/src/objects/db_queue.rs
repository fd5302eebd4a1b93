//! An object's queue of storage operations (part of `db.rs`): one task per object runs them
//! one at a time, in the order they were queued, on the blocking pool, holding the object's
//! connection and the transaction open on it between operations (`txn.rs`).
//!
//! Guarantees: queueing is synchronous (before the caller's future is first polled), so
//! operations run in the order of the calls that queued them; while a live transaction is open,
//! the supervisor's own work waits, in order, until it ends, and work after its holder is gone
//! rolls it back first; an operation whose caller went away is not run. Trusts: its callers for
//! the object key.

use super::*;

/// One queued operation.
pub(super) struct Task {
    work: Work,
    /// Who made it (`None`: the supervisor itself).
    owner: Option<Owner>,
    abandoned: Arc<AtomicBool>,
    /// What the caller's request may spend and where the spending goes (`None`: not counted).
    charge: Option<Charge>,
    reply: oneshot::Sender<Result<Done, SqlError>>,
}

/// A request's share of an operation's cost: the CPU its request has left (a synchronous
/// call's; `None`: no limit but the operation's time budget) and where the CPU the operation's
/// thread spent is added (opening the file included), to be charged to the request.
pub struct Charge {
    pub cpu_left: Option<std::time::Duration>,
    pub spent: crate::supervisor::Spent,
}

/// The connection and the transaction it holds between operations.
pub(super) struct Slot {
    opened: Option<Opened>,
    held: Option<Held>,
}

/// Sets its flag when dropped (with the future waiting for the answer: the request is over).
struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Adds the CPU its thread spent since it was made to a call's [`Charge`], however the
/// operation ends.
struct SpentOnDrop<'a>(&'a crate::supervisor::Spent, std::time::Duration);

impl Drop for SpentOnDrop<'_> {
    fn drop(&mut self) {
        self.0.add(thread_cpu_time().saturating_sub(self.1));
    }
}

impl ObjectDb {
    /// Queues `work` on `key`'s file, behind what is queued there: its answer, once run. The
    /// queueing happens now (before the future is first polled), so operations run in the order
    /// of the calls to this.
    pub fn submit(
        self: &Arc<Self>,
        key: &ObjectKey,
        work: Work,
    ) -> impl std::future::Future<Output = Result<Done, SqlError>> + Send + 'static {
        self.submit_as(key, work, None, None)
    }

    /// [`ObjectDb::submit`] for `owner` (the request and incarnation that made the call; `None`:
    /// the supervisor's own work, which waits while a live transaction is open), its cost
    /// counted in `charge`.
    pub fn submit_as(
        self: &Arc<Self>,
        key: &ObjectKey,
        work: Work,
        owner: Option<Owner>,
        charge: Option<Charge>,
    ) -> impl std::future::Future<Output = Result<Done, SqlError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let abandon = Abandon(Arc::new(AtomicBool::new(false)));
        let task = Task {
            work,
            owner,
            abandoned: Arc::clone(&abandon.0),
            charge,
            reply,
        };
        let sent = {
            let mut queues = lock(&self.queues);
            let queue = queues.entry(key.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(Arc::clone(self).drain(key.clone(), rx));
                tx
            });
            queue.send(task).is_ok()
        };
        async move {
            let _abandon = abandon;
            if !sent {
                return Err(failed("queue", "closed"));
            }
            answer.await.map_err(|e| failed("answer", e))?
        }
    }

    /// Lets go of `key`'s queue (and, once it has run what it holds, its connection: a
    /// transaction still open is rolled back with it).
    pub fn close(&self, key: &ObjectKey) {
        lock(&self.queues).remove(key);
    }

    /// Has `key`'s queue (if it has one: none is started) look at its transaction, which rolls
    /// back one whose request ended (`txn::turn`); callable outside the runtime's tasks.
    pub fn nudge(&self, key: &ObjectKey) {
        let (reply, _) = oneshot::channel();
        if let Some(queue) = lock(&self.queues).get(key) {
            let _ = queue.send(Task {
                work: Work::Settle,
                owner: None,
                abandoned: Arc::new(AtomicBool::new(false)),
                charge: None,
                reply,
            });
        }
    }

    /// Runs `key`'s operations one at a time until its queue is let go of; the supervisor's own
    /// work waits (in order) while a live transaction is open (`txn::turn`).
    async fn drain(self: Arc<Self>, key: ObjectKey, mut rx: mpsc::UnboundedReceiver<Task>) {
        let slot: Arc<Mutex<Slot>> = Arc::new(Mutex::new(Slot {
            opened: None,
            held: None,
        }));
        let mut waiting: VecDeque<Task> = VecDeque::new();
        loop {
            let open = lock(&slot).held.is_some();
            let task = match waiting.pop_front() {
                Some(task) if !open => task,
                held_back => {
                    if let Some(task) = held_back {
                        waiting.push_front(task);
                    }
                    match rx.recv().await {
                        Some(task) => task,
                        None => break,
                    }
                }
            };
            let turn = txn::turn(lock(&slot).held.as_ref(), task.owner.as_ref());
            if matches!(turn, Turn::Wait) {
                waiting.push_back(task);
                continue;
            }
            let (me, key, slot) = (Arc::clone(&self), key.clone(), Arc::clone(&slot));
            let Task {
                work,
                owner,
                abandoned,
                charge,
                reply,
            } = task;
            let done = tokio::task::spawn_blocking(move || {
                // Everything this thread does for the call is the request's CPU.
                let started = thread_cpu_time();
                let _spent = charge.as_ref().map(|c| SpentOnDrop(&c.spent, started));
                let _temp = d1_temp::enter(me.temp_quota(&key.tenant));
                let mut slot = lock(&slot);
                let Slot { opened, held } = &mut *slot;
                if opened.is_none() {
                    *opened = Some(me.open(&key)?);
                }
                let Some(db) = opened.as_mut() else {
                    return Err(failed("open", "no connection"));
                };
                if matches!(turn, Turn::RollBackFirst) {
                    txn::roll_back_all(&db.conn, &db.fence);
                    *held = None;
                    me.resync_alarm(db, &key);
                }
                if abandoned.load(Ordering::SeqCst) {
                    return Err(SqlError(
                        "the request that made the call is over: SQLITE_INTERRUPT".into(),
                    ));
                }
                me.cap(db)?;
                // What is left after opening the file (which it spent too).
                let cpu_left = charge
                    .as_ref()
                    .and_then(|c| c.cpu_left)
                    .map(|left| left.saturating_sub(thread_cpu_time().saturating_sub(started)));
                db.fence.limit_cpu(cpu_left);
                let done = me.run(db, held, &key, work, owner.as_ref(), abandoned);
                db.fence.limit_cpu(None);
                done
            })
            .await
            .unwrap_or_else(|e| Err(failed("run", e)));
            let _ = reply.send(done);
        }
    }
}
