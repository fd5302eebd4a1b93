//! Durable Object alarms: where they are kept and when they are due. The firing (constructing
//! the object, calling its `alarm()`, retrying) is the API's (`api/object_alarms.rs`).
//!
//! An object has at most one alarm, a time in milliseconds since the epoch, kept in two places:
//! - its own SQLite file, table `_cf_ALARM` (one row): the truth, read again before each firing;
//! - the daemon's index, `DIR/alarms.sqlite3` (`DIR` is `data_dir/do`, next to the object
//!   files it indexes; a tenant's folder cannot be named so, it has a dot), one row per object
//!   with an alarm, which the supervisor reads at start instead of opening every object's file.
//!   The index is per daemon and not in the store because the object files are per daemon too
//!   (a store shared by several daemons would list alarms of files another daemon holds).
//!
//! Guarantees:
//! - the index holds every alarm an object's file holds (it may hold more): a set writes the
//!   index before the file, a delete the file before the index; both are committed
//!   (`synchronous=FULL`) before the storage call answers, so an alarm whose `setAlarm` resolved
//!   survives a `kill -9`; an index entry without its file's row is dropped when due;
//! - these run on the object's storage queue (`db::ObjectDb`), in the order its isolate made the
//!   calls, so the index, the file and the in-memory schedule agree;
//! - the schedule fires an object's alarm once at a time (`running`): a set while it runs
//!   replaces the time, and the run, when over, leaves the new one set.
//!
//! Trusts: the object key its caller resolved from the directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension};
use tokio::sync::Notify;

use super::directory::ObjectKey;

/// The object file's table (made with the key-value table, `db::SCHEMA`).
pub const FILE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS _cf_ALARM \
     (one INTEGER PRIMARY KEY CHECK (one = 0), at_ms INTEGER NOT NULL)";

const INDEX_SCHEMA: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     CREATE TABLE IF NOT EXISTS alarms (tenant TEXT NOT NULL, worker TEXT NOT NULL, \
     class TEXT NOT NULL, id TEXT NOT NULL, at_ms INTEGER NOT NULL, \
     PRIMARY KEY (tenant, worker, class, id)) WITHOUT ROWID";

/// The latest alarm time taken: JavaScript's largest date, ms.
pub const MAX_TIME_MS: i64 = 8_640_000_000_000_000;

/// One object's alarm in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// When it is due; `None` once deleted while it ran.
    pub at_ms: Option<i64>,
    /// A firing of it is under way (with its retries): the time it fired for.
    pub running: Option<i64>,
}

/// Counts of `stockade_do_alarms_total{outcome}`.
#[derive(Debug, Default)]
pub struct AlarmCounts {
    pub ok: AtomicU64,
    pub error: AtomicU64,
    pub gave_up: AtomicU64,
    pub gone: AtomicU64,
}

/// The index and the schedule.
pub struct Alarms {
    index: Mutex<Option<Connection>>,
    schedule: Mutex<HashMap<ObjectKey, Pending>>,
    /// Notified when the schedule changes (a set, a run over).
    pub changed: Notify,
    pub counts: AlarmCounts,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unavailable() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some("the daemon's alarm index could not be opened (the operator's log says why)".into()),
    )
}

impl Alarms {
    /// Opens (or makes) the index in `dir` and schedules every alarm it holds.
    pub fn open(dir: &Path) -> Alarms {
        let index = match open_index(dir) {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::error!("durable objects: the alarm index in {}: {e}", dir.display());
                None
            }
        };
        let mut schedule = HashMap::new();
        if let Some(conn) = &index {
            match load(conn) {
                Ok(all) => {
                    for (key, at_ms) in all {
                        let at_ms = Some(at_ms);
                        schedule.insert(
                            key,
                            Pending {
                                at_ms,
                                running: None,
                            },
                        );
                    }
                }
                Err(e) => tracing::error!("durable objects: reading the alarm index: {e}"),
            }
        }
        Alarms {
            index: Mutex::new(index),
            schedule: Mutex::new(schedule),
            changed: Notify::new(),
            counts: AlarmCounts::default(),
        }
    }

    fn index_write(&self, sql: &str, key: &ObjectKey, at_ms: Option<i64>) -> rusqlite::Result<()> {
        let guard = lock(&self.index);
        let conn = guard.as_ref().ok_or_else(unavailable)?;
        let k = [&key.tenant, &key.worker, &key.class, &key.id];
        match at_ms {
            Some(t) => conn.execute(sql, rusqlite::params![k[0], k[1], k[2], k[3], t])?,
            None => conn.execute(sql, rusqlite::params![k[0], k[1], k[2], k[3]])?,
        };
        Ok(())
    }

    fn index_remove(&self, key: &ObjectKey) -> rusqlite::Result<()> {
        self.index_write(
            "DELETE FROM alarms WHERE tenant = ?1 AND worker = ?2 AND class = ?3 AND id = ?4",
            key,
            None,
        )
    }

    fn scheduled(&self, key: &ObjectKey, at_ms: Option<i64>) {
        let mut schedule = lock(&self.schedule);
        match (schedule.get_mut(key), at_ms) {
            (Some(p), _) if p.running.is_some() => p.at_ms = at_ms,
            (_, Some(t)) => {
                let pending = Pending {
                    at_ms: Some(t),
                    running: None,
                };
                schedule.insert(key.clone(), pending);
            }
            (_, None) => {
                schedule.remove(key);
            }
        }
        drop(schedule);
        self.changed.notify_one();
    }

    /// The alarm of `key` for `getAlarm()`: as its file holds it, but null while it runs (unless
    /// set again since, as on Cloudflare).
    pub fn get_for(&self, conn: &Connection, key: &ObjectKey) -> rusqlite::Result<Option<i64>> {
        let at_ms = Self::get(conn)?;
        let running = lock(&self.schedule).get(key).and_then(|p| p.running);
        Ok(at_ms.filter(|t| running != Some(*t)))
    }

    /// The alarm of the object whose file is `conn`.
    pub fn get(conn: &Connection) -> rusqlite::Result<Option<i64>> {
        conn.query_row("SELECT at_ms FROM _cf_ALARM WHERE one = 0", [], |r| {
            r.get(0)
        })
        .optional()
    }

    /// `key`'s alarm as its file holds it, the index and the schedule made to agree.
    pub fn sync(&self, conn: &Connection, key: &ObjectKey) -> rusqlite::Result<Option<i64>> {
        let at_ms = Self::get(conn)?;
        match at_ms {
            Some(t) => self.index_put(key, t)?,
            None => self.index_remove(key)?,
        }
        self.scheduled(key, at_ms);
        Ok(at_ms)
    }

    fn index_put(&self, key: &ObjectKey, at_ms: i64) -> rusqlite::Result<()> {
        self.index_write(
            "INSERT INTO alarms (tenant, worker, class, id, at_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (tenant, worker, class, id) DO UPDATE SET at_ms = excluded.at_ms",
            key,
            Some(at_ms),
        )
    }

    /// Sets `key`'s alarm to `at_ms` (index, then file, then schedule).
    pub fn set(&self, conn: &Connection, key: &ObjectKey, at_ms: i64) -> rusqlite::Result<()> {
        self.index_put(key, at_ms)?;
        conn.execute(
            "INSERT INTO _cf_ALARM (one, at_ms) VALUES (0, ?1) \
             ON CONFLICT (one) DO UPDATE SET at_ms = excluded.at_ms",
            [at_ms],
        )?;
        self.scheduled(key, Some(at_ms));
        Ok(())
    }

    /// Deletes `key`'s alarm if it is `only` (any, for `None`): the alarm left (file, then index,
    /// then schedule).
    pub fn delete(
        &self,
        conn: &Connection,
        key: &ObjectKey,
        only: Option<i64>,
    ) -> rusqlite::Result<Option<i64>> {
        conn.execute(
            "DELETE FROM _cf_ALARM WHERE ?1 IS NULL OR at_ms = ?1",
            [only],
        )?;
        let left = Self::get(conn)?;
        if left.is_none() {
            self.index_remove(key)?;
            self.scheduled(key, None);
        }
        Ok(left)
    }

    /// Drops `key` from the index and the schedule without its file (its worker is gone).
    pub fn forget(&self, key: &ObjectKey) {
        if let Err(e) = self.index_remove(key) {
            tracing::warn!("durable objects: dropping an alarm from the index: {e}");
        }
        lock(&self.schedule).remove(key);
    }

    /// Marks every alarm due at `now_ms` and not running as running: those, and when the next
    /// one not yet due is.
    pub fn take_due(&self, now_ms: i64) -> (Vec<(ObjectKey, i64)>, Option<i64>) {
        let mut schedule = lock(&self.schedule);
        let (mut due, mut next) = (Vec::new(), None::<i64>);
        for (key, p) in schedule.iter_mut() {
            match p.at_ms {
                Some(t) if p.running.is_none() && t <= now_ms => {
                    p.running = Some(t);
                    due.push((key.clone(), t));
                }
                Some(t) if p.running.is_none() => next = Some(next.map_or(t, |n| n.min(t))),
                _ => {}
            }
        }
        (due, next)
    }

    /// The time `key`'s alarm is set for now, as the schedule knows it.
    pub fn current(&self, key: &ObjectKey) -> Option<i64> {
        lock(&self.schedule).get(key).and_then(|p| p.at_ms)
    }

    /// A firing of `key` is over: a deleted alarm leaves, any other waits for its time again.
    pub fn finished(&self, key: &ObjectKey) {
        let mut schedule = lock(&self.schedule);
        match schedule.get_mut(key) {
            Some(p) if p.at_ms.is_some() => p.running = None,
            _ => {
                schedule.remove(key);
            }
        }
        drop(schedule);
        self.changed.notify_one();
    }

    /// `stockade_do_alarms_total` in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        use crate::metrics::{header, sample};
        let name = "stockade_do_alarms_total";
        header(out, name, "counter", "Durable Object alarm runs by outcome (ok, error: a failed run, gave_up: retries exhausted, gone: the worker was deleted).");
        let c = &self.counts;
        for (outcome, n) in [
            ("ok", &c.ok),
            ("error", &c.error),
            ("gave_up", &c.gave_up),
            ("gone", &c.gone),
        ] {
            sample(
                out,
                name,
                &[("outcome", outcome)],
                n.load(Ordering::Relaxed) as f64,
            );
        }
    }
}

fn open_index(dir: &Path) -> rusqlite::Result<Connection> {
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(e.to_string()),
                )
            })?;
    }
    let conn = Connection::open(dir.join("alarms.sqlite3"))?;
    conn.execute_batch(INDEX_SCHEMA)?;
    Ok(conn)
}

fn load(conn: &Connection) -> rusqlite::Result<Vec<(ObjectKey, i64)>> {
    let mut stmt = conn.prepare("SELECT tenant, worker, class, id, at_ms FROM alarms")?;
    let rows = stmt.query_map([], |r| {
        let key = ObjectKey {
            tenant: r.get(0)?,
            worker: r.get(1)?,
            class: r.get(2)?,
            id: r.get(3)?,
        };
        Ok((key, r.get(4)?))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: char) -> ObjectKey {
        ObjectKey {
            tenant: "t".into(),
            worker: "w".repeat(64),
            class: "C".into(),
            id: id.to_string().repeat(64),
        }
    }

    #[test]
    fn the_index_survives_reopening_and_the_schedule_runs_each_once() {
        let dir = std::env::temp_dir().join(format!("stockade-alarms-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = Connection::open_in_memory().expect("file");
        file.execute_batch(FILE_SCHEMA).expect("schema");
        let other = Connection::open_in_memory().expect("file");
        other.execute_batch(FILE_SCHEMA).expect("schema");
        {
            let alarms = Alarms::open(&dir);
            alarms.set(&file, &key('a'), 100).expect("set");
            alarms.set(&other, &key('b'), 500).expect("set");
            assert_eq!(Alarms::get(&file).expect("get"), Some(100));
            let (due, next) = alarms.take_due(200);
            assert_eq!(due, vec![(key('a'), 100)]);
            assert_eq!(
                alarms.get_for(&file, &key('a')).expect("get"),
                None,
                "running"
            );
            assert_eq!(next, Some(500));
            assert!(alarms.take_due(200).0.is_empty(), "running: not again");
            // Set again while it runs: it stays, due at its new time.
            alarms.set(&file, &key('a'), 300).expect("set");
            assert_eq!(alarms.get_for(&file, &key('a')).expect("get"), Some(300));
            assert_eq!(
                alarms.delete(&file, &key('a'), Some(100)).expect("clear"),
                Some(300)
            );
            alarms.finished(&key('a'));
            assert_eq!(alarms.take_due(300).0, vec![(key('a'), 300)]);
            assert_eq!(
                alarms.delete(&file, &key('a'), Some(300)).expect("clear"),
                None
            );
            alarms.finished(&key('a'));
            assert_eq!(alarms.current(&key('a')), None);
        }
        // Reopened (a restart): what is still set is scheduled again.
        let alarms = Alarms::open(&dir);
        assert_eq!(alarms.current(&key('a')), None);
        assert_eq!(alarms.current(&key('b')), Some(500));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
