//! A Durable Object's name: the one `idFromName(name)` / `getByName(name)` made its id from,
//! kept with the object so that an incarnation an event constructs (its alarm, a WebSocket
//! message after eviction, either after a restart) has `ctx.id.name` too, as on Cloudflare.
//!
//! Guarantees:
//! - a name is taken only if its hash is the object's id ([`verified`]: the SHA-256 of
//!   `stockade-do`, the class and the name that `isolate/js/durable.js`'s `idFromName`
//!   computes), so no payload can give an object a name that did not make its id;
//! - it is kept in the object's own file, table `_cf_NAME` (one row; the table is made when a
//!   name is first kept, so the file of an object never addressed by name gains nothing), written
//!   once: a later keep finds it and writes nothing; tenant SQL may not name the table (`_cf_`,
//!   `db.rs`), so what is read back is what the supervisor wrote (and is verified again by the
//!   directory before use); it is queued by the first storage call, or WebSocket send, of an
//!   incarnation a caller named (`Directory::object_keeping`, `mod.rs`): once per incarnation,
//!   and an object that neither stores nor accepts a socket (no event can construct it) gets no
//!   file for it;
//! - reading the name of an object with no file makes none ([`ObjectDb::stored_name`]);
//! - an event's call (`api/object_alarms.rs`, `api/object_sockets.rs`) that finds the object not
//!   live constructs it with the name its file keeps ([`Objects::enter_unnamed`]).
//!
//! Trusts: its callers to run [`keep`] and [`read`] on the object's connection as the
//! supervisor's own statements (`db.rs`, the fence's `internal`).

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::db::{Done, ObjectDb, Work};
use super::directory::{Full, ObjectKey, Version};
use super::Objects;
use crate::supervisor::WorkerDef;

/// Whether `name` is the name `key`'s id was made from (`idFromName` in `durable.js`).
pub fn verified(key: &ObjectKey, name: &str) -> bool {
    let mut h = Sha256::new();
    h.update(b"stockade-do\0");
    h.update(key.class.as_bytes());
    h.update(b"\0");
    h.update(name.as_bytes());
    hex::encode(h.finalize()) == key.id
}

/// Keeps `name` in the object's file unless it keeps one already.
pub(super) fn keep(conn: &Connection, name: &str) -> rusqlite::Result<Done> {
    if read(conn)?.is_none() {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _cf_NAME \
             (one INTEGER PRIMARY KEY CHECK (one = 0), name TEXT NOT NULL)",
        )?;
        conn.execute(
            "INSERT OR IGNORE INTO _cf_NAME (one, name) VALUES (0, ?1)",
            [name],
        )?;
    }
    Ok(Done::Count(0))
}

/// The name the object's file keeps, if any.
pub(super) fn read(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let made = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_cf_NAME'",
            [],
            |_| Ok(()),
        )
        .optional()?;
    if made.is_none() {
        return Ok(None);
    }
    conn.query_row("SELECT name FROM _cf_NAME WHERE one = 0", [], |r| r.get(0))
        .optional()
}

impl ObjectDb {
    /// The name `key`'s file keeps (none if it has no file: none is made to find out). A
    /// failure to read is logged and reads as none (the object is then constructed nameless).
    pub async fn stored_name(self: &Arc<Self>, key: &ObjectKey) -> Option<String> {
        let path = self.path(key).ok()?;
        if !path.try_exists().unwrap_or(false) {
            return None;
        }
        match self.submit(key, Work::Name).await {
            Ok(Done::Name(name)) => name,
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("durable objects: reading the name of {}: {}", key.id, e.0);
                None
            }
        }
    }

    /// Queues keeping `name` in `key`'s file (behind what is queued there; the supervisor's own
    /// work, so after a transaction open on it ends); a failure (the tenant's storage quota) is
    /// logged.
    pub fn keep_name(self: &Arc<Self>, key: &ObjectKey, name: String) {
        let done = self.submit(key, Work::KeepName(name));
        let id = key.id.clone();
        tokio::spawn(async move {
            if let Err(e) = done.await {
                tracing::warn!("durable objects: keeping the name of {id}: {}", e.0);
            }
        });
    }
}

impl Objects {
    /// The incarnation of `key` for a call that gives no name: an event's (its alarm, a
    /// WebSocket's message or close) or one through `idFromString`, counted as
    /// `Directory::enter` counts it: the live one, or a new one made from `parent`
    /// whose `ctx.id.name` is the name the object's file keeps (none if it keeps none).
    pub async fn enter_unnamed(
        &self,
        key: &ObjectKey,
        parent: &Version,
        caps: (usize, usize),
    ) -> Result<Arc<WorkerDef>, Full> {
        let live = self.directory().enter_current(key, parent);
        if let Some(def) = live {
            return Ok(def);
        }
        let stored = self.db.stored_name(key).await;
        self.directory()
            .enter_stored(key, stored.as_deref(), parent, caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(class: &str, id: &str) -> ObjectKey {
        ObjectKey {
            tenant: "t".into(),
            worker: "a".repeat(64),
            class: class.into(),
            id: id.into(),
        }
    }

    #[test]
    fn only_the_name_that_made_the_id_is_verified_and_it_is_kept_once() {
        // node: crypto.createHash("sha256").update("stockade-do\0Clock\0room-7").digest("hex")
        let id = "ed2f0fbc7d5580ff8e964d4f968c1c41e74eba2c4fce4dafd1850b4db36b6984";
        let k = key("Clock", id);
        assert!(verified(&k, "room-7"));
        assert!(!verified(&k, "room-8"), "another name");
        assert!(!verified(&key("Other", id), "room-7"), "another class");
        assert!(!verified(&key("Clock", &"a".repeat(64)), "room-7"));

        let conn = Connection::open_in_memory().expect("file");
        assert_eq!(read(&conn).expect("read"), None, "no table, no name");
        let tables = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(tables(&conn), 0, "reading made nothing");
        keep(&conn, "room-7").expect("keep");
        keep(&conn, "other").expect("keep again");
        assert_eq!(read(&conn).expect("read").as_deref(), Some("room-7"));
    }

    #[tokio::test]
    async fn an_objects_file_keeps_its_name_out_of_tenant_sql_and_a_read_makes_no_file() {
        let dir = std::env::temp_dir().join(format!("stockade-do-name-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = ObjectDb::new(super::super::db::DbSettings {
            dir: dir.clone(),
            max_bytes: 1 << 20,
            tenant_max_bytes: 1 << 30,
            query_ms: 5_000,
        });
        let k = key(
            "Clock",
            "ed2f0fbc7d5580ff8e964d4f968c1c41e74eba2c4fce4dafd1850b4db36b6984",
        );
        assert_eq!(db.stored_name(&k).await, None);
        let path = db.path(&k).expect("a path");
        assert!(!path.exists(), "reading made no file");
        db.keep_name(&k, "room-7".into());
        // Queued behind the keep.
        let Ok(Done::Name(name)) = db.submit(&k, Work::Name).await else {
            panic!("a name read")
        };
        assert_eq!(name.as_deref(), Some("room-7"));
        db.keep_name(&k, "other".into());
        assert_eq!(db.stored_name(&k).await.as_deref(), Some("room-7"));
        for hostile in [
            "SELECT * FROM _cf_NAME",
            "UPDATE _cf_name SET name = 'x'",
            "DELETE FROM _cf_NAME",
            "DROP TABLE _cf_NAME",
        ] {
            let sql = crate::storage::d1_exec::Query {
                sql: hostile.into(),
                params: Vec::new(),
            };
            let e = db.submit(&k, Work::Sql(sql)).await.err();
            assert!(
                e.as_ref().is_some_and(|e| e.0.contains("reserved")),
                "{hostile}: {:?}",
                e.map(|e| e.0)
            );
        }
        assert_eq!(db.stored_name(&k).await.as_deref(), Some("room-7"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
