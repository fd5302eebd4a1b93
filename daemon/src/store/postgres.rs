//! The PostgreSQL backend (`tokio-postgres`, no TLS: for a database on the host or a private
//! network the operator trusts), so several daemons can share one store.
//!
//! A transaction runs on tokio's blocking pool: the closure's statements are sent one by one
//! (`Handle::block_on` on that thread) over a connection taken from a small pool. Guarantees: a
//! transaction is committed before its call returns `Ok` (a [`Durability::Process`] one with
//! `synchronous_commit = off`: the server has it, but may not have flushed it yet); one whose closure failed or panicked is
//! rolled back; a connection that broke is dropped, not reused. Isolation is READ COMMITTED;
//! the logic above locks the rows it must serialise on (`Tx::for_update`). Trusts: the URL the
//! operator configured.

use std::any::Any;
use std::sync::Mutex;

use tokio::sync::Semaphore;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::{Backend, Dialect, Durability, Row, StoreError, Tx, Val, Work};

/// Connections kept at most.
const POOL: usize = 8;

pub struct Postgres {
    url: String,
    idle: Mutex<Vec<Client>>,
    slots: Semaphore,
}

fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(with_causes(&e))
}

/// `e` and its causes (`error connecting to server: Connection refused (os error 111)`): the
/// driver's own text alone does not say why.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
}

impl Postgres {
    /// Connects once to check the URL.
    pub async fn connect(url: &str) -> Result<Postgres, StoreError> {
        let pg = Postgres {
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(POOL),
        };
        let client = pg
            .open()
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        pg.put_back(client);
        Ok(pg)
    }

    async fn open(&self) -> Result<Client, StoreError> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .map_err(backend)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!("store: a PostgreSQL connection ended: {e}");
            }
        });
        Ok(client)
    }

    fn put_back(&self, client: Client) {
        if !client.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(client);
        }
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn transact(
        &self,
        work: Work,
        durability: Durability,
    ) -> Result<Box<dyn Any + Send>, StoreError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("the pool is closed".into()))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut client = match idle {
            Some(c) => c,
            None => self.open().await?,
        };
        let handle = tokio::runtime::Handle::current();
        let (client, result) = tokio::task::spawn_blocking(move || {
            let result = run(&handle, &mut client, work, durability);
            (client, result)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a transaction's thread failed: {e}")))?;
        self.put_back(client);
        result
    }
}

fn run(
    handle: &tokio::runtime::Handle,
    client: &mut Client,
    work: Work,
    durability: Durability,
) -> Result<Box<dyn Any + Send>, StoreError> {
    let tx = handle.block_on(client.transaction()).map_err(backend)?;
    if durability == Durability::Process {
        handle
            .block_on(tx.batch_execute("SET LOCAL synchronous_commit TO OFF"))
            .map_err(backend)?;
    }
    let mut pg = PgTx { handle, tx };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut pg)));
    match caught {
        Ok(Ok(value)) => {
            handle.block_on(pg.tx.commit()).map_err(backend)?;
            Ok(value)
        }
        Ok(Err(e)) => {
            let _ = handle.block_on(pg.tx.rollback());
            Err(e)
        }
        Err(_) => {
            let _ = handle.block_on(pg.tx.rollback());
            Err(StoreError::Backend("a transaction panicked".into()))
        }
    }
}

struct PgTx<'a> {
    handle: &'a tokio::runtime::Handle,
    tx: tokio_postgres::Transaction<'a>,
}

/// `?N` placeholders as PostgreSQL's `$N` (the SQL of this crate has no other `?`).
fn placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Text(v) => v.as_str().to_sql(ty, out),
            Val::Blob(v) => v.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn value(row: &tokio_postgres::Row, i: usize) -> Result<Val, StoreError> {
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Val::Int)),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map(|v| v.map(|v| Val::Int(v.into()))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map(|v| v.map(|v| Val::Int(v.into()))),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map(|v| v.map(|v| Val::Int(v.into()))),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map(|v| v.map(Val::Blob)),
        _ => row
            .try_get::<_, Option<String>>(i)
            .map(|v| v.map(Val::Text)),
    };
    Ok(v.map_err(backend)?.unwrap_or(Val::Null))
}

impl Tx for PgTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.handle
            .block_on(self.tx.execute(placeholders(sql).as_str(), &refs))
            .map_err(backend)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self
            .handle
            .block_on(self.tx.query(placeholders(sql).as_str(), &refs))
            .map_err(backend)?;
        rows.iter()
            .map(|row| (0..row.len()).map(|i| value(row, i)).collect())
            .map(|values: Result<Vec<Val>, StoreError>| values.map(Row))
            .collect()
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}
