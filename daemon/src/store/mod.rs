//! The store: everything the daemon keeps across restarts (worker definitions, tenants' secrets
//! set through the API, key-value data, workspace files), behind one async trait, [`Backend`],
//! with two implementations: SQLite (`sqlite`, the embedded default, in `data_dir`) and
//! PostgreSQL (`postgres`, for several daemons sharing state), chosen by `[store] url`.
//!
//! A backend only runs transactions: it hands a closure a [`Tx`] (SQL with `?N` parameters and
//! a few typed values) on a thread that may block, and commits when the closure returns `Ok`
//! (rolls back otherwise). Everything above (`workers`, `secrets`, `kv`, `workspace`) is written
//! once against [`Tx`], so both backends run the same logic and the same test suite (`tests`).
//!
//! Guarantees: an operation that returned `Ok` is durable: SQLite runs in WAL mode with
//! `synchronous=FULL` (the commit is fsynced before the call returns), PostgreSQL commits; a
//! failed operation changed nothing. Only what can be made again may ask for less
//! ([`Durability::Process`], [`Store::tx_relaxed`]: a Loader child's definition, which its
//! parent's callback remakes): its commit survives the daemon's `kill -9` but not a power cut. The schema is versioned (`migrations`): a store is brought
//! to the latest version when opened, and a store written by a newer daemon is refused.
//! Trusts: the operator's configuration (URL, files); nothing from tenants reaches SQL text (every
//! tenant value is a bound parameter).

pub mod capabilities;
pub mod kv;
mod migrations;
pub mod paths;
mod postgres;
pub mod queues;
#[cfg(test)]
mod queues_tests;
pub mod risk;
pub mod secrets;
mod sqlite;
#[cfg(test)]
mod tests;
pub mod triggers;
#[cfg(test)]
mod triggers_tests;
pub mod worker_names;
#[cfg(test)]
mod worker_names_tests;
pub mod workers;
pub mod workspace;
pub mod workspace_ops;

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

pub use secrets::Sealer;

/// A value bound to, or read from, SQL. Integers are 64-bit (`BIGINT` columns in PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Blob(v)
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Val {
        Val::Blob(v.to_vec())
    }
}

/// One result row.
#[derive(Debug, Clone, Default)]
pub struct Row(pub Vec<Val>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: {other:?}, not an integer"
            ))),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.0.get(i) {
            Some(Val::Text(v)) => Ok(v.clone()),
            _ => Err(StoreError::Corrupt(format!("column {i} is not text"))),
        }
    }

    /// A text column that may be NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(i) {
            Some(Val::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn blob(&mut self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.0.get_mut(i) {
            Some(Val::Blob(v)) => Ok(std::mem::take(v)),
            _ => Err(StoreError::Corrupt(format!("column {i} is not bytes"))),
        }
    }
}

/// Which SQL a backend speaks, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One transaction. SQL uses `?1`, `?2`, ... for parameters (both backends).
pub trait Tx {
    /// Runs a statement; the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError>;
    fn dialect(&self) -> Dialect;

    /// ` FOR UPDATE` where the dialect has it (SQLite transactions are serialised whole).
    fn for_update(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// What a transaction's closure is, type-erased for [`Backend`].
pub type Work = Box<dyn FnOnce(&mut dyn Tx) -> Result<Box<dyn Any + Send>, StoreError> + Send>;

/// A store backend: runs transactions.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// `sqlite` or `postgres`.
    fn name(&self) -> &'static str;
    /// Runs `work` in one transaction on a thread that may block; commits on `Ok`, as durably
    /// as `durability` says before it returns.
    async fn transact(
        &self,
        work: Work,
        durability: Durability,
    ) -> Result<Box<dyn Any + Send>, StoreError>;
}

/// How far a commit must have gone when its call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// On disk: survives a power cut (SQLite fsyncs its write-ahead log; PostgreSQL's synchronous
    /// commit).
    Disk,
    /// Handed to the operating system (SQLite writes its log without fsync) or to the database
    /// server (PostgreSQL's asynchronous commit): survives the daemon's `kill -9`, not the
    /// machine's crash. Later `Disk` commits make it durable too (the log is fsynced whole).
    Process,
}

/// What went wrong in the store. Tenant-facing errors (`NotFound`, `Invalid`, `Quota`,
/// `Conflict`) carry text meant for the tenant; the others are the operator's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Quota(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the store failed: {0}")]
    Backend(String),
    #[error("the store holds data it cannot read: {0}")]
    Corrupt(String),
    #[error("the store's schema is version {found}, newer than this daemon's {known}")]
    TooNew { found: i64, known: i64 },
    #[error("cannot open the store: {0}")]
    Open(String),
}

impl StoreError {
    /// Whether the tenant caused it (its text may be shown to the tenant).
    pub fn is_tenants(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound(_)
                | StoreError::Invalid(_)
                | StoreError::Quota(_)
                | StoreError::Conflict(_)
        )
    }
}

/// Quotas of one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Bytes of file contents.
    pub bytes: i64,
    /// Entries (files and directories).
    pub files: i64,
}

/// The `[store] url` schemes there is a backend for (see [`Store::open`]).
pub const URL_SCHEMES: &[&str] = &["sqlite://", "postgres://", "postgresql://"];

/// `[store]` of the config, resolved.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `sqlite://PATH` or `postgres://...`.
    pub url: String,
    /// The 32-byte key sealing secrets.
    pub key_file: PathBuf,
    /// Write a fresh key to `key_file` when it is missing (the default file in `data_dir`; a
    /// configured file must exist).
    pub generate_key: bool,
    pub quotas: Quotas,
}

/// The daemon's store: a backend, the secret sealer and the workspace quotas.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    pub sealer: Arc<Sealer>,
    pub quotas: Quotas,
    /// Held across one change of the stored secrets together with the egress's copy (the
    /// secrets API), and across a reload of the stored set into the egress (`serve`): a reload
    /// never applies a set read before a change this daemon already answered for.
    pub secrets_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (and migrates) the store `settings` name.
    pub async fn open(settings: &StoreSettings) -> Result<Store, StoreError> {
        let sealer = Arc::new(Sealer::from_key_file(
            &settings.key_file,
            settings.generate_key,
        )?);
        let backend: Arc<dyn Backend> = if let Some(path) = settings.url.strip_prefix("sqlite://") {
            Arc::new(sqlite::Sqlite::open(std::path::Path::new(path))?)
        } else if settings.url.starts_with("postgres://")
            || settings.url.starts_with("postgresql://")
        {
            Arc::new(postgres::Postgres::connect(&settings.url).await?)
        } else {
            return Err(StoreError::Open(
                "[store] url must start with sqlite:// or postgres://".into(),
            ));
        };
        Store::with_backend(backend, sealer, settings.quotas).await
    }

    /// A store over `backend`, migrated.
    pub async fn with_backend(
        backend: Arc<dyn Backend>,
        sealer: Arc<Sealer>,
        quotas: Quotas,
    ) -> Result<Store, StoreError> {
        let store = Store {
            backend,
            sealer,
            quotas,
            secrets_lock: Arc::default(),
        };
        store.tx(migrations::migrate).await?;
        Ok(store)
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Whether other daemons may change this store (PostgreSQL): what this daemon keeps of it
    /// in memory must be read again now and then.
    pub fn shared(&self) -> bool {
        self.backend_name() == "postgres"
    }

    /// Runs `f` in one transaction, durable on disk when it returns `Ok`.
    pub async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    {
        self.tx_with(f, Durability::Disk).await
    }

    /// Runs `f` in one transaction that survives the daemon's crash but not the machine's
    /// ([`Durability::Process`]): only for what can be made again.
    pub async fn tx_relaxed<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    {
        self.tx_with(f, Durability::Process).await
    }

    async fn tx_with<T, F>(&self, f: F, durability: Durability) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    {
        let work: Work = Box::new(move |tx| f(tx).map(|v| Box::new(v) as Box<dyn Any + Send>));
        let done = self.backend.transact(work, durability).await?;
        done.downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StoreError::Backend("a transaction answered the wrong type".into()))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
